/* Linked into the core only by the portable build (NEARKIT_GLIBC217_COMPAT, ci/portable_wheel.sh),
 * which targets glibc 2.17: the functions the core calls that glibc gained later, each going
 * straight to the kernel. Hidden, so a module never offers them to the rest of the process.
 *
 * getrandom(): glibc 2.25. On a kernel without the system call (before Linux 3.17) it fails with
 * ENOSYS, and the core's caller (core/api/io.c, temporary file names) falls back as it does for
 * any failure. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) ssize_t getrandom(void *buf, size_t len, unsigned int flags);

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    return (ssize_t)syscall(SYS_getrandom, buf, len, flags);
}

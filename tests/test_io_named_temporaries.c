/* The save's fallback for file systems without O_TMPFILE: the same checks as test_io_safety.c
 * against core/api/io.c built to take only named temporaries (created with O_CREAT | O_EXCL |
 * O_NOFOLLOW). The included io.c stands in for the library's own. */
#define _GNU_SOURCE
#define NEARKIT_IO_NAMED_TEMPORARIES_ONLY
#include "api/io.c"

#include "test_io_safety.c"

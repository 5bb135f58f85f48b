/* Saving and loading an index file (docs/format.md): the index's parameters and sections into
 * the format (base/format.c frames and checksums them), save targets, temporaries and the atomic
 * replace, reading a file's image, and the public entry points. */
#include "base/format.h"
#include "base/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#define PARAMS_TAG NEARKIT_TAG('P', 'R', 'M', 'S')
#define NEXT_ID_TAG NEARKIT_TAG('N', 'E', 'X', 'T')

/* The named, settable parameters (num_threads travels in the header). */
static nearkit_status write_params(nearkit_writer *w, const nearkit_index *ix) {
    const nearkit_index_ops *ops = ix->ops;
    uint64_t bytes = 4;
    uint32_t n = 0;
    for (size_t i = 0; i < ops->n_params; i++) {
        if (ops->params[i].flags & NEARKIT_PARAM_FLAG_READ_ONLY) continue;
        bytes += 2 + strlen(ops->params[i].name) + 8;
        n++;
    }
    uint8_t *buf = malloc((size_t)bytes), *p = buf;
    if (!buf) return nearkit_oom();
    memcpy(p, &n, 4);
    p += 4;
    for (size_t i = 0; i < ops->n_params; i++) {
        if (ops->params[i].flags & NEARKIT_PARAM_FLAG_READ_ONLY) continue;
        double value = 0;
        nearkit_status st = ops->get_param(ix, i, &value);
        if (st) {
            free(buf);
            return st;
        }
        uint16_t len = (uint16_t)strlen(ops->params[i].name);
        memcpy(p, &len, 2);
        memcpy(p + 2, ops->params[i].name, len);
        memcpy(p + 2 + len, &value, 8);
        p += 2 + len + 8;
    }
    nearkit_status st = nearkit_writer_section(w, PARAMS_TAG, buf, bytes);
    free(buf);
    return st;
}

/* The next implicit id, when removals have left it above the count (a loader that finds no
 * NEXT section takes the count). */
static nearkit_status write_next_id(nearkit_writer *w, const nearkit_index *ix) {
    uint64_t next_id = nearkit_index_next_id(ix);
    if (next_id == ix->ops->count(ix)) return NEARKIT_OK;
    uint8_t bytes[8];
    memcpy(bytes, &next_id, 8); /* little-endian host (base/format.h) */
    return nearkit_writer_section(w, NEXT_ID_TAG, bytes, sizeof bytes);
}

static nearkit_file_header header_of(const nearkit_index *ix) {
    return (nearkit_file_header){
        .kind = (uint32_t)ix->ops->kind,
        .metric = (uint32_t)ix->metric,
        .vector_type = (uint32_t)ix->vector_type,
        .dimension = ix->dimension,
        .count = ix->ops->count(ix),
        .seed = ix->seed,
        .num_threads = ix->num_threads,
    };
}

/* Streams the whole file into the writer. The caller holds the index's lock (shared). */
static nearkit_status serialise(nearkit_writer *w, const nearkit_index *ix) {
    nearkit_status st = write_params(w, ix);
    if (!st) st = ix->ops->save(ix, w);
    if (!st) st = write_next_id(w, ix);
    if (st) return st;
    nearkit_file_header h = header_of(ix);
    return nearkit_writer_finish(w, &h);
}

/* Sets the last error to "<prefix>: <the last error's message>" with `status`. The message is
 * copied first: it lives in the very buffer the new one is formatted into. */
static nearkit_status prefix_last_error(nearkit_status status, const char *prefix) {
    char message[512];
    snprintf(message, sizeof message, "%s", nearkit_last_error_message());
    return nearkit_set_error(status, "%s: %s", prefix, message);
}

/* Reads one PRMS entry at *p (before end) into name and value and steps past it. */
static nearkit_status read_param(char name[65], double *value, const uint8_t **p, const uint8_t *end,
                                 uint32_t i) {
    uint16_t len = 0;
    if (end - *p >= 2) memcpy(&len, *p, 2);
    if (end - *p < 2 || (size_t)(end - *p) < 2u + len + 8u || len == 0 || len > 64)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u", i);
    if (memchr(*p + 2, '\0', len))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u has a NUL in its name",
                                 i);
    memcpy(name, *p + 2, len);
    name[len] = '\0';
    memcpy(value, *p + 2 + len, 8);
    *p += 2 + len + 8;
    return NEARKIT_OK;
}

static nearkit_status apply_params(nearkit_index *ix, const nearkit_reader *r) {
    const void *data = NULL;
    uint64_t size = 0;
    nearkit_status st = nearkit_reader_section(&data, &size, r, PARAMS_TAG);
    if (st) return st;
    const uint8_t *p = data, *end = p + size;
    if (size < 4) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter section");
    uint32_t n;
    memcpy(&n, p, 4);
    p += 4;
    bool seen[64] = {false}; /* a kind has far fewer parameters */
    for (uint32_t i = 0; i < n; i++) {
        char name[65];
        double value = 0;
        st = read_param(name, &value, &p, end, i);
        if (st) return st;
        size_t which = ix->ops->n_params;
        for (size_t j = 0; j < ix->ops->n_params; j++)
            if (strcmp(ix->ops->params[j].name, name) == 0) which = j;
        if (which == ix->ops->n_params)
            return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                     "index file sets parameter '%s' that this library does not know",
                                     name);
        if (which < 64 && seen[which])
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter '%s' appears twice",
                                     name);
        if (which < 64) seen[which] = true;
        st = nearkit_index_set_param(ix, name, value);
        if (st) return prefix_last_error(NEARKIT_ERR_CORRUPT, "corrupt index");
    }
    if (p != end)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: %zu stray bytes after the parameters", (size_t)(end - p));
    return NEARKIT_OK;
}

/* Creates the empty index the header describes. */
static nearkit_status create_from_header(nearkit_index **ix, const nearkit_file_header *h) {
    if (!nearkit_find_kind((nearkit_kind)h->kind))
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                 "index file holds kind %u, which this library does not have", h->kind);
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.num_threads = h->num_threads;
    options.seed = h->seed;
    nearkit_status st = nearkit_index_create(ix, (nearkit_kind)h->kind, (nearkit_metric)h->metric,
                                             h->dimension, &options);
    if (st == NEARKIT_ERR_OUT_OF_MEMORY) return st;
    if (st) return prefix_last_error(NEARKIT_ERR_CORRUPT, "corrupt index");
    if ((uint32_t)(*ix)->vector_type != h->vector_type)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: vector type %u does not fit metric",
                                 h->vector_type);
    return NEARKIT_OK;
}

/* The NEXT section, when present: the next implicit id, at least the count. */
static nearkit_status apply_next_id(nearkit_index *ix, const nearkit_reader *r) {
    if (!nearkit_reader_has_section(r, NEXT_ID_TAG)) return NEARKIT_OK; /* create set the count */
    const void *data = NULL;
    nearkit_status st = nearkit_reader_section_sized(&data, r, NEXT_ID_TAG, 8);
    if (st) return st;
    uint64_t next_id;
    memcpy(&next_id, data, 8);
    if (nearkit_index_set_next_id(ix, next_id) != NEARKIT_OK)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: next id below the count");
    return NEARKIT_OK;
}

/* Builds the index from an image whose prologue passed; `crc` is the checksum of bytes
 * 8 .. size - 4 as read (NULL: an unverified view). `view`: the image outlives the index, which
 * uses its bodies in place (the caller marks it a view). `layout_refused` (may be NULL) is set
 * when a view fails because a body cannot be used in place: the one UNSUPPORTED a kind's loader
 * raises is nearkit_reader_borrowable's, so UNSUPPORTED from ops->load means exactly that (a
 * newer version or an unknown kind fail before it). */
static nearkit_status deserialise(nearkit_index **out, const uint8_t *p, size_t size,
                                  uint32_t header_bytes, const uint32_t *crc, bool view,
                                  bool *layout_refused) {
    if (layout_refused) *layout_refused = false;
    nearkit_file_header h = {0};
    nearkit_reader *r = NULL;
    nearkit_status st = nearkit_reader_open(&r, &h, p, size, header_bytes, crc, view);
    if (st) return st;
    nearkit_index *ix = NULL;
    st = create_from_header(&ix, &h);
    if (!st) st = apply_params(ix, r);
    if (!st) {
        st = ix->ops->load(ix, r);
        if (st == NEARKIT_ERR_UNSUPPORTED && view && layout_refused) *layout_refused = true;
    }
    if (!st && ix->ops->count(ix) != h.count)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: header says %llu vectors, body %llu",
                               (unsigned long long)h.count, (unsigned long long)ix->ops->count(ix));
    if (!st) st = apply_next_id(ix, r);
    nearkit_reader_free(r);
    if (st) {
        nearkit_index_free(ix);
        return st;
    }
    *out = ix;
    return NEARKIT_OK;
}

/* ---- loading a file ---------------------------------------------------------------------------- */

static nearkit_status read_exactly(int fd, uint8_t *p, size_t n, const char *path) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (got == 0)
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': it shrank while being read",
                                     path);
        p += got;
        n -= (size_t)got;
    }
    return NEARKIT_OK;
}

/* Opens a regular file for reading. O_NONBLOCK keeps open() from waiting for a FIFO's writer;
 * anything but a regular file is refused before a byte is read. */
static nearkit_status open_regular_file(int *fd_out, uint64_t *size, const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return nearkit_set_error(NEARKIT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat info;
    nearkit_status st = NEARKIT_OK;
    if (fstat(fd, &info) != 0)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    else if (!S_ISREG(info.st_mode))
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': not a regular file", path);
    else if ((uint64_t)info.st_size > SIZE_MAX / 2)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': file too large", path);
    if (st) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    *size = (uint64_t)info.st_size;
    return NEARKIT_OK;
}

/* Reads the prologue and checks it, then the rest of the file into one allocation, checksumming
 * it a chunk at a time as it arrives. */
static nearkit_status read_image(uint8_t **out, uint32_t *header_bytes, uint32_t *crc, int fd,
                                 size_t size, const char *path) {
    const size_t prologue_bytes = NEARKIT_FORMAT_PROLOGUE_BYTES, chunk = NEARKIT_FORMAT_CHUNK_BYTES;
    uint8_t prologue[NEARKIT_FORMAT_PROLOGUE_BYTES];
    nearkit_status st = read_exactly(fd, prologue, size < prologue_bytes ? size : prologue_bytes, path);
    if (!st) st = nearkit_format_check_prologue(header_bytes, prologue, size);
    if (st) return st;
    uint8_t *image = malloc(size);
    if (!image) return nearkit_oom();
    memcpy(image, prologue, prologue_bytes);
    uint32_t c = nearkit_crc32(0, prologue + 8, prologue_bytes - 8);
    size_t checked_end = size - 4; /* the stored checksum is not part of what it covers */
    for (size_t at = prologue_bytes; at < size && !st; at += chunk) {
        size_t n = size - at < chunk ? size - at : chunk;
        st = read_exactly(fd, image + at, n, path);
        size_t checked = at + n < checked_end ? at + n : checked_end;
        if (at < checked) c = nearkit_crc32(c, image + at, checked - at);
    }
    if (st) {
        free(image);
        return st;
    }
    *out = image;
    *crc = c;
    return NEARKIT_OK;
}

/* ---- saving a file ----------------------------------------------------------------------------- */

/* A save writes a temporary file in the target's directory and renames it over the target, so
 * readers see the old file or the new one, whole, whatever happens (a full disk, kill -9, power
 * loss: the data and then the directory are fsync'ed). The temporary is created exclusively and
 * never through a link: where the file system can, as an anonymous O_TMPFILE that gets a name
 * only for the instant before the rename, else under a name no one can plant beforehand:
 *     .<target name>.nkx-tmp-<pid>-<8 random hex digits>
 * A save first removes such leftovers of earlier saves of the same target (killed mid-save)
 * whose process no longer runs, or that were last written more than STALE_SECONDS ago. */
#if defined(O_TMPFILE) && !defined(NEARKIT_IO_NAMED_TEMPORARIES_ONLY)
#define USE_ANONYMOUS_TEMPORARIES 1 /* tests/test_io_named_temporaries.c builds without them */
#endif
#define TEMP_MARK ".nkx-tmp-"
#define TEMP_BASE_MAX 200 /* of the target's name kept in a temporary's name (NAME_MAX is 255) */
#define STALE_SECONDS 600

typedef struct save_target {
    const char *path, *base; /* base: the last component of path */
    int dir_fd;
    bool exists;
    struct stat info; /* of the existing target */
    char temp[1 + TEMP_BASE_MAX + sizeof TEMP_MARK + 32];
} save_target;

static const char *file_type_name(mode_t mode) {
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/* Opens the target's directory and looks at the target itself without following a link: only
 * a regular file (or nothing) may be replaced. */
static nearkit_status open_target(save_target *t, const char *path) {
    *t = (save_target){.path = path, .dir_fd = -1};
    const char *slash = strrchr(path, '/');
    t->base = slash ? slash + 1 : path;
    if (!t->base[0])
        return nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': the path names a directory", path);
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(dir_len + 1);
    if (!dir) return nearkit_oom();
    if (!slash) memcpy(dir, ".", 2);
    else if (dir_len == 0) memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#if defined(O_PATH)
    /* a directory we may write but not list: no cleanup of leftovers, no sync of the rename */
    if (t->dir_fd < 0 && errno == EACCES) t->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
#endif
    int err = errno;
    free(dir);
    if (t->dir_fd < 0) return nearkit_format_write_failed(path, err);
    if (fstatat(t->dir_fd, t->base, &t->info, AT_SYMLINK_NOFOLLOW) == 0) t->exists = true;
    else if (errno != ENOENT) return nearkit_format_write_failed(path, errno);
    if (t->exists && !S_ISREG(t->info.st_mode))
        return nearkit_set_error(NEARKIT_ERR_IO,
                                 "cannot write '%s': it is %s; a save replaces only a regular file",
                                 path, file_type_name(t->info.st_mode));
    return NEARKIT_OK;
}

static size_t temp_prefix(char *out, const char *base) {
    size_t len = strlen(base) < TEMP_BASE_MAX ? strlen(base) : TEMP_BASE_MAX;
    out[0] = '.';
    memcpy(out + 1, base, len);
    memcpy(out + 1 + len, TEMP_MARK, sizeof TEMP_MARK);
    return 1 + len + sizeof TEMP_MARK - 1;
}

static uint32_t random_u32(void) {
    uint32_t v = 0;
#if defined(__linux__)
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
#endif
    /* no entropy at hand: unpredictability only spares retries, O_EXCL is what keeps it safe */
    static _Atomic uint32_t counter;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    v = (uint32_t)now.tv_nsec ^ (uint32_t)now.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16;
    return v ^ (++counter * 0x9E3779B9u);
}

static void next_temp_name(save_target *t) {
    size_t at = temp_prefix(t->temp, t->base);
    snprintf(t->temp + at, sizeof t->temp - at, "%ld-%08x", (long)getpid(), (unsigned)random_u32());
}

/* Parses "<pid>-<8 hex digits>" (what follows the prefix in a temporary's name). */
static bool parse_temp_suffix(long *pid, const char *s) {
    char *end;
    errno = 0;
    *pid = strtol(s, &end, 10);
    if (end == s || *end != '-' || errno || *pid <= 0 || s[0] == '+' || s[0] == '-') return false;
    s = end + 1;
    for (int i = 0; i < 8; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[8] == '\0';
}

static bool temp_is_stale(const save_target *t, const char *name, long pid) {
    struct stat info;
    if (fstatat(t->dir_fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
        return false;
    if (pid <= (long)INT32_MAX && kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
    return difftime(time(NULL), info.st_mtime) > STALE_SECONDS;
}

/* Removes leftovers of earlier saves of this target (see above). Best effort: a directory that
 * cannot be listed leaves them. */
static void remove_stale_temporaries(const save_target *t) {
    char prefix[sizeof t->temp];
    size_t prefix_len = temp_prefix(prefix, t->base);
    int fd = dup(t->dir_fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *entry;
    long pid;
    while ((entry = readdir(dir)) != NULL)
        if (strncmp(entry->d_name, prefix, prefix_len) == 0 &&
            parse_temp_suffix(&pid, entry->d_name + prefix_len) && temp_is_stale(t, entry->d_name, pid))
            unlinkat(t->dir_fd, entry->d_name, 0);
    closedir(dir);
}

/* Creates a named temporary: exclusively, never through a link, under a fresh random name. */
static int create_named_temp(save_target *t, mode_t mode) {
    for (int attempt = 0; attempt < 100; attempt++) {
        next_temp_name(t);
        int fd = openat(t->dir_fd, t->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

#if defined(USE_ANONYMOUS_TEMPORARIES)
/* Gives an O_TMPFILE file a (temporary) name. Returns 0 or an errno value. */
static int name_anonymous_temp(save_target *t, int fd) {
#if defined(AT_EMPTY_PATH)
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        next_temp_name(t);
        /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works for everyone else */
        if (linkat(fd, "", t->dir_fd, t->temp, AT_EMPTY_PATH) == 0) return 0;
        if (errno != EEXIST && linkat(AT_FDCWD, proc_path, t->dir_fd, t->temp, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST) return errno;
    }
    return EEXIST;
#else
    (void)t;
    (void)fd;
    return ENOTSUP;
#endif
}
#endif

/* The replacement's permissions: an existing target's mode (and owner and group, where this
 * process may set them) are kept; a new file gets 0666 less the umask, applied by open itself. */
static nearkit_status set_permissions(const save_target *t, int fd) {
    if (!t->exists) return NEARKIT_OK;
    struct stat info;
    if (fstat(fd, &info) == 0 && (info.st_uid != t->info.st_uid || info.st_gid != t->info.st_gid) &&
        fchown(fd, t->info.st_uid, t->info.st_gid) != 0) {
        /* not allowed to give the file away: keep at least the group when this process may */
        if (fchown(fd, (uid_t)-1, t->info.st_gid) != 0) { /* best effort */
        }
    }
    if (fchmod(fd, t->info.st_mode & 07777) != 0) return nearkit_format_write_failed(t->path, errno);
    return NEARKIT_OK;
}

/* Writes the whole file to fd and makes it durable. The index's lock is held (shared) for the
 * serialisation only: writers to the index need not wait for the fsync. */
static nearkit_status write_file(const save_target *t, int fd, const nearkit_index *ix) {
    nearkit_writer w;
    nearkit_status st = nearkit_writer_open(&w, fd, t->path);
    if (!st) {
        nearkit_index_lock_read(ix);
        st = serialise(&w, ix);
        nearkit_index_unlock(ix);
    }
    nearkit_writer_discard(&w);
    if (!st) st = set_permissions(t, fd);
    if (!st && fsync(fd) != 0) st = nearkit_format_write_failed(t->path, errno);
    return st;
}

/* Writes the file as an anonymous temporary and names it. NEARKIT_OK with *done false when the
 * file system or the system refuses that way (then the named way is taken). */
static nearkit_status write_anonymous(save_target *t, const nearkit_index *ix, bool *done) {
    *done = false;
#if defined(USE_ANONYMOUS_TEMPORARIES)
    int fd = openat(t->dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, t->exists ? 0600 : 0666);
    if (fd < 0) return NEARKIT_OK;
    nearkit_status st = write_file(t, fd, ix);
    if (!st) {
        int err = name_anonymous_temp(t, fd);
        if (!err) *done = true;
        else if (err == ENOSPC || err == EDQUOT) st = nearkit_format_write_failed(t->path, err);
    } else {
        *done = true; /* a failure of the write itself is final */
    }
    close(fd);
    return st;
#else
    (void)t;
    (void)ix;
    return NEARKIT_OK;
#endif
}

static nearkit_status write_named(save_target *t, const nearkit_index *ix) {
    int fd = create_named_temp(t, t->exists ? 0600 : 0666);
    if (fd < 0) return nearkit_format_write_failed(t->path, errno);
    nearkit_status st = write_file(t, fd, ix);
    if (close(fd) != 0 && !st) st = nearkit_format_write_failed(t->path, errno);
    if (st) unlinkat(t->dir_fd, t->temp, 0);
    return st;
}

static nearkit_status replace_target(save_target *t, const nearkit_index *ix) {
    bool done = false;
    nearkit_status st = write_anonymous(t, ix, &done);
    if (!st && !done) st = write_named(t, ix);
    if (st) return st;
    if (renameat(t->dir_fd, t->temp, t->dir_fd, t->base) != 0) {
        st = nearkit_format_write_failed(t->path, errno);
        unlinkat(t->dir_fd, t->temp, 0);
        return st;
    }
    /* the rename is durable once the directory is; some file systems cannot sync one */
    if (fsync(t->dir_fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS && errno != EBADF)
        return nearkit_format_write_failed(t->path, errno);
    return NEARKIT_OK;
}

/* ---- public entry points ----------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_index_save_to_buffer(void **data, size_t *size,
                                                        const nearkit_index *index) {
    nearkit_clear_error();
    if (!data || !size || !index)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save_to_buffer");
    nearkit_writer w;
    nearkit_status st = nearkit_writer_open(&w, -1, NULL);
    if (!st) {
        nearkit_index_lock_read(index);
        st = serialise(&w, index);
        nearkit_index_unlock(index);
    }
    if (st) {
        nearkit_writer_discard(&w);
        return st;
    }
    nearkit_writer_take_image(&w, data, size);
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_buffer_free(void *data) { free(data); }

NEARKIT_API nearkit_status nearkit_index_load_from_buffer(nearkit_index **out, const void *data,
                                                          size_t size) {
    nearkit_clear_error();
    if (!out || (!data && size))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load_from_buffer");
    *out = NULL;
    uint32_t header_bytes = 0;
    nearkit_status st = nearkit_format_check_prologue(&header_bytes, data, size);
    if (st) return st;
    uint32_t crc = nearkit_format_image_crc(data, size);
    return deserialise(out, data, size, header_bytes, &crc, false, NULL);
}

/* ---- views ------------------------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_view_options_init(nearkit_view_options *options) {
    nearkit_clear_error();
    if (!options) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to view_options_init");
    *options = (nearkit_view_options)NEARKIT_VIEW_OPTIONS_INIT;
    return NEARKIT_OK;
}

/* The caller's options over the defaults (only the first struct_size bytes are read). */
static nearkit_status read_view_options(nearkit_view_options *o, const nearkit_view_options *given) {
    *o = (nearkit_view_options)NEARKIT_VIEW_OPTIONS_INIT;
    if (!given) return NEARKIT_OK;
    if (given->struct_size < offsetof(nearkit_view_options, verify) + sizeof given->verify)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "view options: struct_size %u is too small",
                                 given->struct_size);
    o->verify = given->verify;
    /* a caller compiled before 0.2 has no load_if_unviewable */
    if (given->struct_size >= offsetof(nearkit_view_options, load_if_unviewable) + sizeof given->load_if_unviewable)
        o->load_if_unviewable = given->load_if_unviewable;
    return NEARKIT_OK;
}

/* Opens a view over an image that outlives it: the prologue, then (verify) the checksum over
 * every byte, then the sections in place. With load_if_unviewable, an image whose layout the
 * view refused is loaded instead (from the same bytes: a file is not read a second time, so the
 * index is the file the view saw); the caller tells the two apart by (*out)->is_view. */
static nearkit_status view_image(nearkit_index **out, const uint8_t *image, size_t size,
                                 const nearkit_view_options *o) {
    uint32_t header_bytes = 0;
    nearkit_status st = nearkit_format_check_prologue(&header_bytes, image, size);
    if (st) return st;
    uint32_t crc = o->verify ? nearkit_format_image_crc(image, size) : 0;
    bool layout_refused = false;
    st = deserialise(out, image, size, header_bytes, o->verify ? &crc : NULL, true, &layout_refused);
    if (!st) (*out)->is_view = true; /* from here on every write is refused */
    if (layout_refused && o->load_if_unviewable) {
        nearkit_clear_error();
        if (!o->verify) crc = nearkit_format_image_crc(image, size);
        st = deserialise(out, image, size, header_bytes, &crc, false, NULL);
    }
    return st;
}

NEARKIT_API nearkit_status nearkit_index_view_buffer(nearkit_index **out, const void *data, size_t size,
                                                     const nearkit_view_options *opts) {
    nearkit_clear_error();
    if (out) *out = NULL;
    if (!out || (!data && size))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to view_buffer");
    nearkit_view_options o;
    nearkit_status st = read_view_options(&o, opts);
    return st ? st : view_image(out, data, size, &o);
}

/* Maps a whole regular file read-only; an empty file maps nothing (the prologue check refuses it). */
static nearkit_status map_file(void **map, uint64_t *size, const char *path) {
    int fd = -1;
    nearkit_status st = open_regular_file(&fd, size, path);
    if (st) return st;
    *map = NULL;
    if (*size > 0) {
        *map = mmap(NULL, (size_t)*size, PROT_READ, MAP_SHARED, fd, 0);
        if (*map == MAP_FAILED) {
            *map = NULL;
            st = nearkit_set_error(NEARKIT_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        /* Searches read a view at random (graph links, tree leaves, lists), where 4 KB pages cost
         * page walks a load's 2 MB blocks (nearkit_bulk_alloc_array) do not. Whether a file page
         * is mapped 2 MB at a time depends on the page cache's folios: a file read in cold comes
         * in 4 KB to 128 KB pieces unless the mapping asks for huge ones (measured, Linux 6.18,
         * ext4: a 38 MB hnsw file read cold was mapped 0 MB in 2 MB pages without this, all of it
         * with). Refused where THP is off or file THP is not supported: fine. */
        if (*map) (void)madvise(*map, (size_t)*size, MADV_HUGEPAGE);
#endif
    }
    close(fd); /* the mapping keeps the file */
    return st;
}

NEARKIT_API nearkit_status nearkit_index_view(nearkit_index **out, const char *path,
                                              const nearkit_view_options *opts) {
    nearkit_clear_error();
    if (out) *out = NULL;
    if (!out || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to view");
    nearkit_view_options o;
    nearkit_status st = read_view_options(&o, opts);
    void *map = NULL;
    uint64_t size = 0;
    if (!st) st = map_file(&map, &size, path);
    if (st) return st;
    static const uint8_t empty[1];
    st = view_image(out, map ? map : empty, (size_t)size, &o);
    if (st) {
        if (map) munmap(map, (size_t)size);
        if (st != NEARKIT_ERR_OUT_OF_MEMORY) st = prefix_last_error(st, path);
        return st;
    }
    if (!(*out)->is_view) { /* loaded instead (load_if_unviewable): the index owns its copy */
        if (map) munmap(map, (size_t)size);
        return NEARKIT_OK;
    }
    (*out)->view_map = map; /* nearkit_index_free unmaps it */
    (*out)->view_map_bytes = (size_t)size;
    return NEARKIT_OK;
}

NEARKIT_API int32_t nearkit_index_is_view(const nearkit_index *index) { return index && index->is_view; }

NEARKIT_API nearkit_status nearkit_index_copy(nearkit_index **out, const nearkit_index *index) {
    nearkit_clear_error();
    if (out) *out = NULL;
    if (!out || !index) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to copy");
    /* through the file format: one path that every kind keeps exact, the view's bulk read once */
    void *image = NULL;
    size_t size = 0;
    nearkit_status st = nearkit_index_save_to_buffer(&image, &size, index);
    if (!st) st = nearkit_index_load_from_buffer(out, image, size);
    free(image);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_save(const nearkit_index *index, const char *path) {
    nearkit_clear_error();
    if (!index || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save");
    save_target t;
    nearkit_status st = open_target(&t, path);
    if (!st) {
        remove_stale_temporaries(&t);
        st = replace_target(&t, index);
    }
    if (t.dir_fd >= 0) close(t.dir_fd);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_load(nearkit_index **out, const char *path) {
    nearkit_clear_error();
    if (!out || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load");
    *out = NULL;
    int fd = -1;
    uint64_t size = 0;
    nearkit_status st = open_regular_file(&fd, &size, path);
    if (st) return st;
    uint8_t *image = NULL;
    uint32_t header_bytes = 0, crc = 0;
    st = read_image(&image, &header_bytes, &crc, fd, (size_t)size, path);
    close(fd);
    if (!st) st = deserialise(out, image, (size_t)size, header_bytes, &crc, false, NULL);
    free(image);
    if (st && st != NEARKIT_ERR_IO && st != NEARKIT_ERR_OUT_OF_MEMORY) st = prefix_last_error(st, path);
    return st;
}

/* The manifest of a sharded collection's directory (manifest.json): reading it strictly, writing
 * it atomically. Only api/sharded.c uses it; docs/distributed.md describes the file. */
#ifndef NEARKIT_API_MANIFEST_H
#define NEARKIT_API_MANIFEST_H

#include "base/internal.h"

/* The longest shard file name a manifest holds (bytes, without the terminating NUL). */
#define NEARKIT_MANIFEST_NAME_MAX 255

typedef struct nearkit_manifest_shard {
    char file[NEARKIT_MANIFEST_NAME_MAX + 1]; /* a plain file name inside the directory */
    uint64_t count;                            /* vectors the shard holds */
} nearkit_manifest_shard;

typedef struct nearkit_manifest {
    nearkit_vector_type vector_type; /* 0 until the first shard is added */
    nearkit_metric metric;
    uint32_t dimension;
    uint64_t count; /* every shard's together */
    nearkit_manifest_shard *shards;
    uint64_t n_shards, cap;
} nearkit_manifest;

/* Whether `name` is a plain file name a manifest may list: 1 to NEARKIT_MANIFEST_NAME_MAX bytes,
 * no '/' or '\\', not "." or "..", no control character. */
bool nearkit_manifest_name_ok(const char *name);

/* Appends the shard stored as `file`, described by `shard` (an open index): the first fixes the
 * vector type, metric and dimension, the others must agree (INVALID_ARGUMENT naming the shard). */
nearkit_status nearkit_manifest_add(nearkit_manifest *m, const char *file, const nearkit_index *shard);

/* Reads dir/manifest.json. IO when it cannot be read, CORRUPT when it is not a valid manifest
 * (malformed JSON, a missing or ill-typed field, a bad file name, counts that do not add up),
 * UNSUPPORTED for a newer version. On failure *m is empty. */
nearkit_status nearkit_manifest_read(nearkit_manifest *m, const char *dir);

/* Writes dir/manifest.json atomically (a temporary renamed over it, synced). */
nearkit_status nearkit_manifest_write(const nearkit_manifest *m, const char *dir);

/* dir + "/" + file in a new string (free()), NULL when memory is short. */
char *nearkit_manifest_join(const char *dir, const char *file);

void nearkit_manifest_free(nearkit_manifest *m);

#endif

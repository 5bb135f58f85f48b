/* Checks of float values that every layer applies (internal.h, "vector checks"): what add accepts
 * (NEARKIT_MAX_ABS_VALUE, derived in api/index.c) and what a loader accepts of a file. */
#include "base/internal.h"

#include <math.h>

uint64_t nearkit_first_unusable_value(const float *v, uint64_t total) {
    for (uint64_t i = 0; i < total; i++)
        if (!(fabsf(v[i]) <= NEARKIT_MAX_ABS_VALUE)) return i; /* NaN fails the test too */
    return total;
}

/* Cosine vectors as add stores them have length 1 (normalised in double, each value rounded once
 * to float: the squared length is off by at most about 2^-23) or 0 (a zero input). A loaded
 * file's may be off by this much in the squared length, which keeps distances within about 1e-4
 * of [0, 2], and files written by normalisers summing in float at any dimension pass. */
#define COSINE_SQUARED_LENGTH_TOLERANCE 1e-4

nearkit_status nearkit_check_loaded_floats(const nearkit_index *ix, const float *v, uint64_t n,
                                           const char *what) {
    size_t d = ix->dimension;
    uint64_t total = n * d, i = nearkit_first_unusable_value(v, total);
    if (i < total)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: %s %llu holds %g at position %llu, not a finite value "
                                 "within +-2^50 (NEARKIT_MAX_ABS_VALUE)",
                                 what, (unsigned long long)(i / d), (double)v[i],
                                 (unsigned long long)(i % d));
    if (ix->metric != NEARKIT_METRIC_COSINE) return NEARKIT_OK;
    for (uint64_t row = 0; row < n; row++) {
        double sq = 0;
        for (size_t j = 0; j < d; j++) sq += (double)v[row * d + j] * v[row * d + j];
        if (sq != 0 && !(fabs(sq - 1.0) <= COSINE_SQUARED_LENGTH_TOLERANCE))
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: %s %llu of a cosine index has length %g, not 1 "
                                     "(nor 0): cosine vectors are stored normalised",
                                     what, (unsigned long long)row, sqrt(sq));
    }
    return NEARKIT_OK;
}

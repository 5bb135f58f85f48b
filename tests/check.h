/* A minimal assertion helper for the C tests: CHECK records a failure and goes on;
 * check_summary prints "name: N passed, M failed" and returns the exit status. */
#ifndef NEARKIT_TEST_CHECK_H
#define NEARKIT_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

/* Checks a call's status and, on failure, that the library left a non-empty message. */
#define CHECK_STATUS(call, expected)                                                           \
    do {                                                                                       \
        nearkit_status check_st_ = (call);                                                     \
        if (check_st_ == (expected) &&                                                         \
            (check_st_ == NEARKIT_OK || nearkit_last_error_message()[0] != '\0')) {            \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "%s:%d: %s returned %s (expected %s): %s\n", __FILE__, __LINE__,   \
                    #call, nearkit_status_name(check_st_), nearkit_status_name(expected),      \
                    nearkit_last_error_message());                                             \
        }                                                                                      \
    } while (0)

static int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif

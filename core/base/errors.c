/* The thread-local last error. */
#include "base/internal.h"

#include <stdio.h>

#define NEARKIT_MESSAGE_MAX 512

static _Thread_local nearkit_status last_status = NEARKIT_OK;
static _Thread_local char last_message[NEARKIT_MESSAGE_MAX];

nearkit_status nearkit_set_error(nearkit_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, args);
    va_end(args);
    last_status = status;
    return status;
}

void nearkit_clear_error(void) {
    last_status = NEARKIT_OK;
    last_message[0] = '\0';
}

nearkit_status nearkit_oom(void) {
    return nearkit_set_error(NEARKIT_ERR_OUT_OF_MEMORY, "out of memory");
}

NEARKIT_API const char *nearkit_last_error_message(void) { return last_message; }

NEARKIT_API nearkit_status nearkit_last_error_status(void) { return last_status; }

NEARKIT_API const char *nearkit_status_name(nearkit_status status) {
    switch (status) {
    case NEARKIT_OK: return "OK";
    case NEARKIT_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case NEARKIT_ERR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case NEARKIT_ERR_IO: return "IO";
    case NEARKIT_ERR_CORRUPT: return "CORRUPT";
    case NEARKIT_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case NEARKIT_ERR_STATE: return "STATE";
    case NEARKIT_ERR_NOT_FOUND: return "NOT_FOUND";
    case NEARKIT_ERR_INTERNAL: return "INTERNAL";
    default: return "UNKNOWN";
    }
}

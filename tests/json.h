/*
 * json.h - a small JSON (RFC 8259) parser for nearkit's C tests.
 *
 * Parses a complete document into a tree of json_value nodes owned by the root: free the root
 * with json_free. Numbers become doubles, strings are UTF-8 (escapes decoded, \u0000 allowed:
 * use the length), arrays and objects keep their order; an object may repeat a key, and
 * json_object_get then returns the first. The parser never aborts: malformed input, nesting
 * deeper than JSON_MAX_DEPTH, or running out of memory give NULL and a message. Plain C11, no
 * dependencies beyond the C library. Numbers are converted with strtod (correctly rounded on
 * common C libraries), independent of the LC_NUMERIC locale.
 */
#ifndef NEARKIT_TESTS_JSON_H
#define NEARKIT_TESTS_JSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most arrays and objects that may enclose one another. */
#define JSON_MAX_DEPTH 256

typedef enum json_type {
    JSON_NULL = 0,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;
typedef struct json_member json_member;

struct json_value {
    json_type type;
    union {
        double number; /* JSON_NUMBER */
        struct {
            char *chars; /* NUL-terminated; may hold NULs itself (see length) */
            size_t length;
        } string;      /* JSON_STRING */
        struct {
            json_value *items;
            size_t count;
        } array;       /* JSON_ARRAY */
        struct {
            json_member *members;
            size_t count;
        } object;      /* JSON_OBJECT */
    } u;
};

struct json_member {
    char *key; /* NUL-terminated UTF-8 */
    size_t key_length;
    json_value value;
};

/* Parses `length` bytes of `text` (need not be NUL-terminated). Returns the root, or NULL with a
 * message such as "line 3, column 14: expected ',' or ']'" written into error[error_size] (error
 * may be NULL). */
json_value *json_parse(const char *text, size_t length, char *error, size_t error_size);
/* Reads and parses a whole file; NULL with a message on failure. */
json_value *json_parse_file(const char *path, char *error, size_t error_size);
/* Frees a tree returned by json_parse or json_parse_file. Accepts NULL. */
void json_free(json_value *root);

/* Accessors; each tolerates NULL and values of the wrong type (returning NULL / 0). */
const json_value *json_object_get(const json_value *object, const char *key);
size_t json_array_length(const json_value *array);
const json_value *json_array_at(const json_value *array, size_t i);
int json_is(const json_value *value, json_type type);
/* The string's characters, or NULL when value is not a string. */
const char *json_string(const json_value *value);
/* Stores the number in *out and returns 1 when value is a number, else returns 0. */
int json_number(const json_value *value, double *out);
/* Stores the number in *out and returns 1 when value is a number holding an integer in
 * [-2^53, 2^53], else returns 0. */
int json_integer(const json_value *value, long long *out);

#ifdef __cplusplus
}
#endif

#endif /* NEARKIT_TESTS_JSON_H */

/* OpenBLAS runs single-threaded inside nearkit's own threads: two pools on the same cores only
 * slow each other down (Faiss 1.7.3 loses half its speed going from one thread to two for exactly
 * that reason). The setting is OpenBLAS's process-wide one; it is made once, before nearkit's
 * first BLAS call. */
#include "internal.h"

#include <cblas.h>
#include <pthread.h>

static void set_single_threaded(void) { openblas_set_num_threads(1); }

void nearkit_blas_prepare(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_single_threaded);
}

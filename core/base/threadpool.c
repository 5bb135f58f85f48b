/* The library's one thread pool. Workers start on first need and serve every index; a parallel
 * loop's caller works too, so a loop completes even when every worker is busy elsewhere (or, after
 * fork, when the pool's threads do not exist in the child). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "base/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define NEARKIT_MAX_WORKERS 255

typedef struct pool_job {
    nearkit_range_fn fn;
    void *ctx;
    uint64_t n, chunk;
    _Atomic uint64_t next;
    uint32_t slots;   /* helpers still welcome; under pool.mutex */
    uint32_t joined;  /* helpers that joined; under pool.mutex */
    uint32_t running; /* helpers not yet finished; under pool.mutex */
    pthread_cond_t finished;
    struct pool_job *next_job;
} pool_job;

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pool_job *head, *tail;
    pthread_t threads[NEARKIT_MAX_WORKERS];
    uint32_t n_workers;
    bool stopping;
} pool = {.mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void run_chunks(pool_job *job, uint32_t worker) {
    for (;;) {
        uint64_t begin = atomic_fetch_add_explicit(&job->next, job->chunk, memory_order_relaxed);
        if (begin >= job->n) return;
        uint64_t end = job->n - begin < job->chunk ? job->n : begin + job->chunk;
        job->fn(job->ctx, begin, end, worker);
    }
}

/* Under pool.mutex. */
static void dequeue(pool_job *job) {
    pool_job **link = &pool.head;
    pool_job *prev = NULL;
    while (*link && *link != job) {
        prev = *link;
        link = &(*link)->next_job;
    }
    if (!*link) return;
    *link = job->next_job;
    if (pool.tail == job) pool.tail = prev;
}

static void *worker_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&pool.mutex);
    for (;;) {
        while (!pool.head && !pool.stopping) pthread_cond_wait(&pool.wake, &pool.mutex);
        if (pool.stopping) break;
        pool_job *job = pool.head;
        uint32_t worker = ++job->joined;
        if (--job->slots == 0) dequeue(job);
        job->running++;
        pthread_mutex_unlock(&pool.mutex);
        run_chunks(job, worker);
        pthread_mutex_lock(&pool.mutex);
        if (--job->running == 0) pthread_cond_signal(&job->finished);
    }
    pthread_mutex_unlock(&pool.mutex);
    return NULL;
}

/* Under pool.mutex. Starts workers until `wanted` exist; fewer when the system refuses threads. */
static void grow_pool(uint32_t wanted) {
    if (wanted > NEARKIT_MAX_WORKERS) wanted = NEARKIT_MAX_WORKERS;
    while (pool.n_workers < wanted && !pool.stopping) {
        if (pthread_create(&pool.threads[pool.n_workers], NULL, worker_main, NULL) != 0) return;
        pool.n_workers++;
    }
}

void nearkit_parallel_for(uint32_t threads, uint64_t n, uint64_t chunk, nearkit_range_fn fn,
                          void *ctx) {
    if (n == 0) return;
    if (chunk == 0) chunk = 1;
    uint64_t n_chunks = n / chunk + (n % chunk != 0);
    uint64_t helpers = threads > 1 ? threads - 1u : 0u;
    if (helpers > n_chunks - 1) helpers = n_chunks - 1;
    if (helpers == 0) {
        for (uint64_t begin = 0; begin < n; begin += chunk)
            fn(ctx, begin, n - begin < chunk ? n : begin + chunk, 0);
        return;
    }
    pool_job job = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk, .slots = (uint32_t)helpers};
    atomic_init(&job.next, 0);
    pthread_cond_init(&job.finished, NULL);

    pthread_mutex_lock(&pool.mutex);
    grow_pool((uint32_t)helpers);
    if (pool.tail) pool.tail->next_job = &job;
    else pool.head = &job;
    pool.tail = &job;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);

    run_chunks(&job, 0);

    pthread_mutex_lock(&pool.mutex);
    if (job.slots > 0) dequeue(&job);
    while (job.running > 0) pthread_cond_wait(&job.finished, &pool.mutex);
    pthread_mutex_unlock(&pool.mutex);
    pthread_cond_destroy(&job.finished);
}

uint32_t nearkit_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return (uint32_t)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1u;
}

uint32_t nearkit_resolve_threads(uint32_t requested) {
    if (requested == 0) return nearkit_cpu_count();
    return requested > NEARKIT_MAX_WORKERS + 1 ? NEARKIT_MAX_WORKERS + 1 : requested;
}

/* Stops and joins the workers when the library is unloaded, so no thread runs unmapped code. */
__attribute__((destructor)) static void stop_pool(void) {
    pthread_mutex_lock(&pool.mutex);
    pool.stopping = true;
    uint32_t n = pool.n_workers;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);
    for (uint32_t i = 0; i < n; i++) pthread_join(pool.threads[i], NULL);
}

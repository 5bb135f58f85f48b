/* nearkit demo: every index kind of this library on synthetic data, side by side. */
#define NEARKIT_EXPERIMENTAL /* nearkit_index_tune */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "common.h"
#include "engine.h"
#include "synth.h"

#define MAX_KINDS 64

static const char usage[] =
    "usage: nearkit demo [--n N] [--dim D] [--low-dim L] [--bits B] [--queries Q] [--k K] [--threads T]\n"
    "                    [--seed S] [--kinds LIST]\n"
    "\n"
    "Generates a clustered synthetic dataset, builds every index kind of this library that\n"
    "handles l2 on float32 vectors, runs the queries and prints each kind's build time, queries\n"
    "per second, memory and recall@K against the exact (flat) results. Then the same for binary\n"
    "codes with planted near-duplicates under the hamming metric, and advice on which index to\n"
    "use when.\n"
    "\n"
    "  --n N         base vectors (default 100000)\n"
    "  --dim D       float dimension (default 64)\n"
    "  --low-dim L   dimension of the low-dimensional float section (default 4)\n"
    "  --bits B      bits of the binary codes, a multiple of 8 (default 256)\n"
    "  --queries Q   queries (default 1000)\n"
    "  --k K         neighbours per query (default 10)\n"
    "  --threads T   threads (default 0 = every core)\n"
    "  --seed S      seed of the data and of randomised builds (default 42)\n"
    "  --kinds LIST  only these kinds, comma-separated (default: all but brute force over\n"
    "                codes, flat_fp16 ... flat_pq, which --kinds can name)\n";

typedef struct demo_config {
    uint64_t n, nq, k, seed;
    uint32_t dim, low_dim, bits, threads;
    const char *kinds; /* filter or NULL */
} demo_config;

/* Queries the tuner samples: enough for a stable recall, few enough to stay quick. */
#define TUNE_SAMPLE 200
#define TUNE_TARGET 0.95

/* One kind's measurements in one section. */
typedef struct demo_row {
    nearkit_kind_info info;
    int ok;
    double build_seconds, qps, recall, planted;
    uint64_t memory;
    char setting[64]; /* approximate kinds: what the tuner set, e.g. "nprobe=17 max_codes=830"; else "" */
    int tune_reached; /* whether that setting reached the tuner's target recall */
    double tune_recall; /* the recall the tuner measured there (against the kind's own best) */
} demo_row;

typedef struct demo_section {
    const char *title;
    nearkit_metric metric;
    const cli_vectors *base, *queries;
    const int64_t *planted; /* binary section only */
    demo_row rows[MAX_KINDS];
    size_t count;
    /* Compressed kinds (codes of a codec) left out unless --kinds names them: the low-dimension
     * section's, where codes of a few dimensions tie everywhere (and a tuner chasing recall
     * among the ties ran hnsw_sq4 to ef_search = n for a minute). */
    int skip_compressed;
    int64_t *exact_ids; /* the reference kind's results */
    float *exact_dists;
    int failures;
} demo_section;

/* Kinds left out unless --kinds names them: brute force over codes (flat_fp16 ... flat_pq) scans
 * every code like flat, so its rows would add build and query time without a trade-off the ivf
 * and hnsw codec rows do not already show. */
static int shown_by_default(const char *name) { return strncmp(name, "flat_", 5) != 0; }

static int kind_selected(const char *filter, const char *name) {
    if (!filter) return shown_by_default(name);
    size_t len = strlen(name);
    for (const char *p = filter; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && strncasecmp(p, name, len) == 0) return 1;
        p += l + (comma ? 1 : 0);
    }
    return 0;
}

/* Whether --kinds names the kind itself (no filter names nothing). */
static int kind_named(const char *filter, const char *name) { return filter && kind_selected(filter, name); }

/* Lists the kinds for the section's metric, the reference (flat, else an exact kind) first. */
static void collect_kinds(demo_section *s, const char *filter) {
    s->count = 0;
    size_t n = nearkit_kind_count();
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < n && s->count < MAX_KINDS; ++i) {
            nearkit_kind_info info;
            memset(&info, 0, sizeof info);
            info.struct_size = (uint32_t)sizeof info;
            if (nearkit_kind_get_info(&info, i) != NEARKIT_OK) continue;
            if (!(info.metric_mask & (1u << s->metric))) continue;
            int reference = info.kind == NEARKIT_KIND_FLAT;
            if (reference != (pass == 0) || !kind_selected(filter, info.name)) continue;
            if (s->skip_compressed && (info.flags & NEARKIT_KIND_FLAG_COMPRESSED) && !kind_named(filter, info.name))
                continue;
            memset(&s->rows[s->count], 0, sizeof s->rows[0]);
            s->rows[s->count++].info = info;
        }
    }
    /* Without flat, move the first exact kind to the front as the reference. */
    if (s->count && s->rows[0].info.kind != NEARKIT_KIND_FLAT) {
        for (size_t i = 0; i < s->count; ++i) {
            if (!(s->rows[i].info.flags & NEARKIT_KIND_FLAG_EXACT)) continue;
            demo_row t = s->rows[i];
            memmove(&s->rows[1], &s->rows[0], i * sizeof t);
            s->rows[0] = t;
            break;
        }
    }
}

static double planted_found(const int64_t *ids, const int64_t *planted, uint64_t n, uint64_t k) {
    uint64_t found = 0;
    for (uint64_t q = 0; q < n; ++q)
        for (uint64_t j = 0; j < k; ++j)
            if (ids[q * k + j] == planted[q]) {
                ++found;
                break;
            }
    return n ? (double)found / (double)n : 1.0;
}

static void print_header(const demo_section *s, uint64_t k) {
    char recall[32];
    snprintf(recall, sizeof recall, "recall@%llu", (unsigned long long)k);
    printf("%-12s %-6s %10s %12s %11s %13s", "kind", "type", "build (s)", "queries/s", "memory",
           recall);
    if (s->planted) printf(" %9s", "planted");
    printf("\n");
}

static void print_row(const demo_section *s, const demo_row *r) {
    char mem[32], recall[16];
    const char *type = (r->info.flags & NEARKIT_KIND_FLAG_EXACT) ? "exact" : "approx";
    if (!r->ok) {
        printf("%-12s %-6s %10s   (failed: see the error above)\n", r->info.name, type, "-");
        return;
    }
    if (r->recall >= 0) snprintf(recall, sizeof recall, "%.4f", r->recall);
    else snprintf(recall, sizeof recall, "n/a");
    printf("%-12s %-6s %10.3f %12.0f %11s %13s", r->info.name, type, r->build_seconds, r->qps,
           cli_format_bytes(mem, sizeof mem, r->memory), recall);
    if (s->planted) printf(" %9.4f", r->planted);
    /* The tuner measures recall against the kind's own exhaustive answer: for codes without
     * their originals that is the codes' best, which the true recall above may fall well short
     * of (a sample's noise aside). */
    int capped = r->recall < r->tune_recall - 0.05;
    if (r->setting[0] && r->tune_reached && !capped) printf("  (tuned: %s)", r->setting);
    else if (r->setting[0] && r->tune_reached)
        printf("  (tuned: %s, to %.2f of what its codes find)", r->setting, TUNE_TARGET);
    else if (r->setting[0])
        printf("  (%s: recall %.2f not reached)", r->setting, TUNE_TARGET);
    printf("\n");
    fflush(stdout);
}


/* For an approximate kind, sets the cheapest runtime setting reaching recall TUNE_TARGET on
 * the first queries (nearkit_index_tune) and notes it in r->setting; the measured search then
 * runs at it. A failed tuning only leaves the kind's default. */
static void tune_row(demo_row *r, nearkit_index *index, const cli_vectors *queries,
                     const demo_config *c) {
    r->setting[0] = '\0';
    if (r->info.flags & NEARKIT_KIND_FLAG_EXACT) return;
    nearkit_tune_options o = NEARKIT_TUNE_OPTIONS_INIT;
    nearkit_tune_result t = NEARKIT_TUNE_RESULT_INIT;
    o.k = c->k;
    o.target_recall = TUNE_TARGET;
    o.num_threads = c->threads;
    o.max_seconds = 60;
    uint64_t n = queries->n < TUNE_SAMPLE ? queries->n : TUNE_SAMPLE;
    if (nearkit_index_tune(&t, index, queries->type, queries->data, n, &o) == NEARKIT_OK && t.param) {
        if (t.fine_param)
            snprintf(r->setting, sizeof r->setting, "%s=%.0f %s=%.0f", t.param, t.value, t.fine_param, t.fine_value);
        else
            snprintf(r->setting, sizeof r->setting, "%s=%.0f", t.param, t.value);
        r->tune_reached = t.reached;
        r->tune_recall = t.recall;
    }
}

/* Builds, searches and measures one kind; the first row's results become the reference. */
static int run_kind(demo_section *s, demo_row *r, const demo_config *c, int is_reference) {
    cli_build_config bc = {r->info.kind, s->metric, NULL, c->threads, c->seed};
    size_t cells = (size_t)(s->queries->n * c->k);
    int64_t *ids = malloc(cells * sizeof *ids);
    float *dists = malloc(cells * sizeof *dists);
    nearkit_index *index = NULL;
    double search_seconds = 0.0;
    int rc = -1;
    if (!ids || !dists) {
        cli_error("out of memory");
        goto done;
    }
    if (cli_build_index(&index, &r->build_seconds, &bc, s->base) != 0) goto done;
    r->memory = nearkit_index_memory_bytes(index);
    tune_row(r, index, s->queries, c);
    if (cli_search_knn(ids, dists, &search_seconds, index, s->queries, c->k, c->threads) != 0)
        goto done;
    r->qps = search_seconds > 0 ? (double)s->queries->n / search_seconds : 0.0;
    int exact_reference = is_reference && (r->info.flags & NEARKIT_KIND_FLAG_EXACT);
    if (exact_reference) {
        r->recall = 1.0;
        s->exact_ids = ids;
        s->exact_dists = dists;
        ids = NULL;
        dists = NULL;
    } else if (s->exact_ids) {
        r->recall = cli_recall_vs_exact(ids, dists, s->exact_ids, s->exact_dists, s->queries->n, c->k);
    } else {
        r->recall = -1.0;
    }
    if (s->planted)
        r->planted = planted_found(exact_reference ? s->exact_ids : ids, s->planted,
                                   s->queries->n, c->k);
    r->ok = 1;
    rc = 0;
done:
    nearkit_index_free(index);
    free(ids);
    free(dists);
    return rc;
}

static void run_section(demo_section *s, const demo_config *c) {
    printf("\n%s\n", s->title);
    collect_kinds(s, c->kinds);
    if (s->count == 0) {
        printf("  (no index kind of this library handles %s%s)\n",
               nearkit_metric_name(s->metric), c->kinds ? " among --kinds" : "");
        return;
    }
    if (s->skip_compressed)
        printf("(compressed kinds left out: codes of so few dimensions keep too little to rank by; "
               "--kinds NAME runs one)\n");
    print_header(s, c->k);
    for (size_t i = 0; i < s->count; ++i) {
        if (run_kind(s, &s->rows[i], c, i == 0) != 0) ++s->failures;
        print_row(s, &s->rows[i]);
    }
}

/* The fastest successful kind with the given exactness (and recall >= min_recall). */
static const demo_row *fastest(const demo_section *s, int exact, double min_recall) {
    const demo_row *best = NULL;
    for (size_t i = 0; i < s->count; ++i) {
        const demo_row *r = &s->rows[i];
        int is_exact = (r->info.flags & NEARKIT_KIND_FLAG_EXACT) != 0;
        if (!r->ok || is_exact != exact || (!exact && r->recall < min_recall)) continue;
        if (!best || r->qps > best->qps) best = r;
    }
    return best;
}

/* The successful approximate kind with recall >= min_recall that takes the least memory. */
static const demo_row *smallest(const demo_section *s, double min_recall) {
    const demo_row *best = NULL;
    for (size_t i = 0; i < s->count; ++i) {
        const demo_row *r = &s->rows[i];
        if (!r->ok || (r->info.flags & NEARKIT_KIND_FLAG_EXACT) || r->recall < min_recall) continue;
        if (!best || r->memory < best->memory) best = r;
    }
    return best;
}

/* Where memory is what runs out first (compressed codes, issue 17): the smallest kind that still
 * reaches the recall, when it takes at most two thirds of what the fastest one does. */
static void advise_memory(char *buf, size_t size, const demo_section *s, const demo_row *fast) {
    const demo_row *small = smallest(s, 0.95);
    if (!fast || !small || small == fast || 3 * small->memory > 2 * fast->memory) return;
    size_t used = strlen(buf);
    char mem[32], fast_mem[32];
    snprintf(buf + used, size - used, ", or %s%s%s when memory is short (%s instead of %s, recall %.2f, %.0f queries/s)",
             small->info.name, small->setting[0] ? " at " : "", small->setting,
             cli_format_bytes(mem, sizeof mem, small->memory), cli_format_bytes(fast_mem, sizeof fast_mem, fast->memory),
             small->recall, small->qps);
}

static void print_kind_guide(void) {
    printf("\nWhich index to use (descriptions of this library's kinds):\n");
    for (size_t i = 0, n = nearkit_kind_count(); i < n; ++i) {
        nearkit_kind_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = (uint32_t)sizeof info;
        if (nearkit_kind_get_info(&info, i) != NEARKIT_OK) continue;
        char metrics[96];
        cli_metric_list(metrics, sizeof metrics, info.metric_mask, ",");
        printf("  %-12s %s [%s%s%s%s; %s]\n", info.name, info.description ? info.description : "",
               (info.flags & NEARKIT_KIND_FLAG_EXACT) ? "exact" : "approximate",
               (info.flags & NEARKIT_KIND_FLAG_COMPRESSED) ? ", compressed" : "",
               (info.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING) ? ", trained" : "",
               (info.flags & NEARKIT_KIND_FLAG_NEEDS_BUILD) ? ", built after adding" : "", metrics);
    }
}

/* Appends one clause of advice for a section. */
static void advise(char *buf, size_t size, const demo_section *s, const char *data) {
    size_t used = strlen(buf);
    const demo_row *ex = fastest(s, 1, 0.0);
    const demo_row *ap = fastest(s, 0, 0.95);
    if (!ex && !ap) return;
    if (ex && (!ap || ap->qps <= ex->qps))
        snprintf(buf + used, size - used, "%s%s: use %s (exact, %.0f queries/s here%s)",
                 used ? "; " : "", data, ex->info.name, ex->qps,
                 ap ? "; no approximate kind with recall >= 0.95 was faster" : "");
    else if (ex)
        snprintf(buf + used, size - used,
                 "%s%s: use %s when exact answers are needed (%.0f queries/s), %s%s%s%s when "
                 "recall %.2f is enough (%.0f queries/s)",
                 used ? "; " : "", data, ex->info.name, ex->qps, ap->info.name,
                 ap->setting[0] ? " at " : "", ap->setting, ap->setting[0] ? " (nearkit tune)" : "",
                 ap->recall, ap->qps);
    else
        snprintf(buf + used, size - used, "%s%s: use %s%s%s (recall %.2f, %.0f queries/s)",
                 used ? "; " : "", data, ap->info.name, ap->setting[0] ? " at " : "", ap->setting,
                 ap->recall, ap->qps);
    advise_memory(buf, size, s, ap);
}

static int parse_args(int argc, char **argv, demo_config *c) {
    const char *n = "100000", *dim = "64", *low_dim = "4", *bits = "256", *nq = "1000", *k = "10", *threads = "0",
               *seed = "42";
    c->kinds = NULL;
    const cli_option options[] = {
        {"n", &n, NULL},       {"dim", &dim, NULL},         {"low-dim", &low_dim, NULL},
        {"bits", &bits, NULL},
        {"queries", &nq, NULL}, {"k", &k, NULL},            {"threads", &threads, NULL},
        {"seed", &seed, NULL}, {"kinds", &c->kinds, NULL},
    };
    const char *pos[1];
    size_t npos = 0;
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 0, &npos) ||
        cli_parse_u64(&c->n, n, "--n", 1, 100000000) ||
        cli_parse_u32(&c->dim, dim, "--dim", 1, 65536) ||
        cli_parse_u32(&c->low_dim, low_dim, "--low-dim", 1, 65536) ||
        cli_parse_u32(&c->bits, bits, "--bits", 8, 65536) ||
        cli_parse_u64(&c->nq, nq, "--queries", 1, 10000000) ||
        cli_parse_u64(&c->k, k, "--k", 1, 10000) ||
        cli_parse_u32(&c->threads, threads, "--threads", 0, 1u << 16) ||
        cli_parse_u64(&c->seed, seed, "--seed", 0, UINT64_MAX))
        return -1;
    if (c->bits % 8) return cli_error("--bits: %lu is not a multiple of 8", (unsigned long)c->bits);
    if (c->kinds) {
        for (const char *p = c->kinds; *p;) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(l < 63 ? l : 63), p);
            nearkit_kind kind;
            if (cli_kind_from_name(&kind, name) != 0) return -1;
            p += l + (comma ? 1 : 0);
        }
    }
    return 0;
}

int cmd_demo(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    demo_config c;
    if (parse_args(argc, argv, &c) != 0) return CLI_EXIT_USAGE;
    double t0 = cli_now();
    int rc = CLI_EXIT_FAILURE;
    cli_vectors fbase = {0}, fq = {0}, bbase = {0}, bq = {0};
    int64_t *planted = NULL;
    demo_section *fs = calloc(1, sizeof *fs), *ls = calloc(1, sizeof *ls), *bs = calloc(1, sizeof *bs);
    if (!fs || !ls || !bs) {
        cli_error("out of memory");
        goto done;
    }
    printf("nearkit %s demo: %llu base vectors, %llu queries, k = %llu, threads = %lu%s, seed %llu\n",
           nearkit_version_string(), (unsigned long long)c.n, (unsigned long long)c.nq,
           (unsigned long long)c.k, (unsigned long)c.threads, c.threads ? "" : " (every core)",
           (unsigned long long)c.seed);
    if (cli_synth_clustered(&fbase, &fq, c.n, c.nq, c.dim, c.seed) != 0) goto done;
    char title[160];
    snprintf(title, sizeof title, "float32: %llu x %lu clustered vectors, metric l2",
             (unsigned long long)c.n, (unsigned long)c.dim);
    fs->title = title;
    fs->metric = NEARKIT_METRIC_L2;
    fs->base = &fbase;
    fs->queries = &fq;
    run_section(fs, &c);
    cli_vectors_free(&fbase);
    cli_vectors_free(&fq);

    /* low dimensions: where metric trees beat brute force */
    if (cli_synth_clustered(&fbase, &fq, c.n, c.nq, c.low_dim, c.seed + 1) != 0) goto done;
    char ltitle[160];
    snprintf(ltitle, sizeof ltitle, "float32: %llu x %lu clustered vectors (low dimension), metric l2",
             (unsigned long long)c.n, (unsigned long)c.low_dim);
    ls->title = ltitle;
    ls->metric = NEARKIT_METRIC_L2;
    ls->skip_compressed = 1;
    ls->base = &fbase;
    ls->queries = &fq;
    run_section(ls, &c);
    cli_vectors_free(&fbase);
    cli_vectors_free(&fq);

    if (cli_synth_binary(&bbase, &bq, &planted, c.n, c.nq, c.bits, c.seed) != 0) goto done;
    char btitle[256];
    snprintf(btitle, sizeof btitle,
             "binary: %llu x %lu-bit codes in families of near-duplicates, metric hamming\n"
             "(each query is a base code with up to 8 bits flipped; planted = share of queries "
             "whose source code is in the top %llu)",
             (unsigned long long)c.n, (unsigned long)c.bits, (unsigned long long)c.k);
    bs->title = btitle;
    bs->metric = NEARKIT_METRIC_HAMMING;
    bs->base = &bbase;
    bs->queries = &bq;
    bs->planted = planted;
    run_section(bs, &c);

    printf("\nrecall@%llu: share of the exact %llu nearest found (a result as near as the "
           "exact k-th one counts).\ndemo finished in %.1f s\n",
           (unsigned long long)c.k, (unsigned long long)c.k, cli_now() - t0);
    print_kind_guide();
    char advice[2048] = "";
    char what[64];
    snprintf(what, sizeof what, "float vectors at d = %lu", (unsigned long)c.dim);
    advise(advice, sizeof advice, fs, what);
    snprintf(what, sizeof what, "at d = %lu", (unsigned long)c.low_dim);
    advise(advice, sizeof advice, ls, what);
    advise(advice, sizeof advice, bs, "binary codes");
    printf("\nAdvice: %s.\n", advice[0] ? advice : "no index kind succeeded on this data");
    rc = fs->failures || ls->failures || bs->failures ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
done:
    if (fs) free(fs->exact_ids), free(fs->exact_dists);
    if (ls) free(ls->exact_ids), free(ls->exact_dists);
    if (bs) free(bs->exact_ids), free(bs->exact_dists);
    free(fs);
    free(ls);
    free(bs);
    free(planted);
    cli_vectors_free(&fbase);
    cli_vectors_free(&fq);
    cli_vectors_free(&bbase);
    cli_vectors_free(&bq);
    return rc;
}

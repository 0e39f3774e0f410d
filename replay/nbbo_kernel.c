/* The level loop of replay/fast_nbbo.py in C: venue books and each symbol's NBBO key, folded over the
 * columnar arrays of a recording's row group. Compiled on first use with zig cc (the `ziglang` wheel,
 * already a dependency) and loaded with ctypes by replay/nbbo_compiled.py; the Python fast path is the
 * reference (tests/replay/test_fast_nbbo.py compares all three event for event).
 *
 * Each side of a book is an open-addressing hash table (price -> qty, linear probing, deletes by backward
 * shift so no tombstones) with its best price cached, as the Python path's dicts: a delete of the best
 * rescans the side. Each book remembers the top the symbol's current NBBO key holds (kt); the key changes
 * exactly when a book's usable top differs from it, so the key is compared without being built. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY INT64_MIN
#define NO_ASK ((int64_t)1 << 62) /* the best ask of an empty side, as _NO_ASK */
#define K_DELTA 0
#define K_SNAPSHOT 1
#define K_STATUS 2

typedef struct {
    int64_t *keys, *vals;
    int64_t cap, len; /* cap: a power of two, at least twice len */
} side_t;

typedef struct {
    side_t bids, asks;
    int64_t bid, ask;    /* best prices (0 / NO_ASK when the side is empty) */
    int64_t kt[5];       /* usable, bid, bid qty, ask, ask qty as the symbol's NBBO key holds them */
    int32_t exists;      /* a snapshot created it (MarketBooks applies no delta before one) */
    int32_t stale, venue, sym, next; /* next: the symbol's next book (-1: none) */
} book_t;

typedef struct {
    book_t *books;
    int64_t nbooks, capbooks;
    int32_t *head; /* symbol -> its first book (-1: none) */
    int64_t nsyms;
} state_t;

static uint64_t mix(int64_t k) { /* murmur3's finalizer: prices are multiples of a tick, low bits alike */
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int side_init(side_t *s, int64_t cap) {
    s->keys = malloc(sizeof(int64_t) * cap);
    s->vals = malloc(sizeof(int64_t) * cap);
    if (!s->keys || !s->vals) return -1;
    for (int64_t i = 0; i < cap; i++) s->keys[i] = EMPTY;
    s->cap = cap;
    s->len = 0;
    return 0;
}

static int64_t *side_slot(const side_t *s, int64_t k) {
    uint64_t m = (uint64_t)s->cap - 1, i = mix(k) & m;
    while (s->keys[i] != EMPTY && s->keys[i] != k) i = (i + 1) & m;
    return &s->keys[i];
}

static int side_grow(side_t *s) {
    side_t t;
    if (side_init(&t, s->cap * 2)) return -1;
    for (int64_t i = 0; i < s->cap; i++)
        if (s->keys[i] != EMPTY) {
            int64_t *slot = side_slot(&t, s->keys[i]);
            *slot = s->keys[i];
            t.vals[slot - t.keys] = s->vals[i];
        }
    t.len = s->len;
    free(s->keys);
    free(s->vals);
    *s = t;
    return 0;
}

static int side_put(side_t *s, int64_t k, int64_t v) {
    int64_t *slot = side_slot(s, k);
    if (*slot == EMPTY) {
        if ((s->len + 1) * 2 > s->cap) {
            if (side_grow(s)) return -1;
            slot = side_slot(s, k);
        }
        *slot = k;
        s->len++;
    }
    s->vals[slot - s->keys] = v;
    return 0;
}

static int64_t side_get(const side_t *s, int64_t k) {
    int64_t *slot = side_slot(s, k);
    return *slot == EMPTY ? 0 : s->vals[slot - s->keys];
}

static int side_del(side_t *s, int64_t k) { /* 1 if k was there */
    uint64_t m = (uint64_t)s->cap - 1, i = (uint64_t)(side_slot(s, k) - s->keys), j = i;
    if (s->keys[i] == EMPTY) return 0;
    for (;;) { /* backward shift: move later entries of the run into the hole when their home allows */
        j = (j + 1) & m;
        if (s->keys[j] == EMPTY) break;
        uint64_t home = mix(s->keys[j]) & m;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->keys[i] = s->keys[j];
            s->vals[i] = s->vals[j];
            i = j;
        }
    }
    s->keys[i] = EMPTY;
    s->len--;
    return 1;
}

static void side_clear(side_t *s) {
    if (s->len)
        for (int64_t i = 0; i < s->cap; i++) s->keys[i] = EMPTY;
    s->len = 0;
}

static int64_t side_max(const side_t *s, int64_t none) {
    int64_t best = none, seen = 0;
    for (int64_t i = 0; i < s->cap; i++)
        if (s->keys[i] != EMPTY && (!seen++ || s->keys[i] > best)) best = s->keys[i];
    return best;
}

static int64_t side_min(const side_t *s, int64_t none) {
    int64_t best = none, seen = 0;
    for (int64_t i = 0; i < s->cap; i++)
        if (s->keys[i] != EMPTY && (!seen++ || s->keys[i] < best)) best = s->keys[i];
    return best;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b) { return -cmp_desc(a, b); }

static int side_truncate(side_t *s, int64_t depth, int best_high) { /* keep the best `depth` levels */
    if (s->len <= depth) return 0;
    int64_t *prices = malloc(sizeof(int64_t) * s->len), n = 0;
    if (!prices) return -1;
    for (int64_t i = 0; i < s->cap; i++)
        if (s->keys[i] != EMPTY) prices[n++] = s->keys[i];
    qsort(prices, n, sizeof(int64_t), best_high ? cmp_desc : cmp_asc);
    for (int64_t i = depth; i < n; i++) side_del(s, prices[i]);
    free(prices);
    return 0;
}

void *cb_new(void) { return calloc(1, sizeof(state_t)); }

void cb_free(void *p) {
    state_t *st = p;
    if (!st) return;
    for (int64_t i = 0; i < st->nbooks; i++) {
        free(st->books[i].bids.keys);
        free(st->books[i].bids.vals);
        free(st->books[i].asks.keys);
        free(st->books[i].asks.vals);
    }
    free(st->books);
    free(st->head);
    free(st);
}

/* Register book `id` (ids are given in order: id == the number of books so far) of a venue and symbol. */
int cb_book(void *p, int64_t id, int32_t venue, int32_t sym) {
    state_t *st = p;
    if (id != st->nbooks) return -1;
    if (st->nbooks == st->capbooks) {
        int64_t cap = st->capbooks ? st->capbooks * 2 : 16;
        book_t *books = realloc(st->books, sizeof(book_t) * cap);
        if (!books) return -1;
        st->books = books;
        st->capbooks = cap;
    }
    if (sym >= st->nsyms) {
        int64_t n = sym + 16;
        int32_t *head = realloc(st->head, sizeof(int32_t) * n);
        if (!head) return -1;
        for (int64_t i = st->nsyms; i < n; i++) head[i] = -1;
        st->head = head;
        st->nsyms = n;
    }
    book_t *b = &st->books[id];
    memset(b, 0, sizeof(*b));
    if (side_init(&b->bids, 32) || side_init(&b->asks, 32)) return -1;
    b->ask = NO_ASK;
    b->stale = 1;
    b->venue = venue;
    b->sym = sym;
    b->next = st->head[sym];
    st->head[sym] = (int32_t)id;
    st->nbooks++;
    return 0;
}

/* The book's top as read_top gives it: usable, bid, bid qty, ask, ask qty (0 = none). */
static void read_top(const book_t *b, int64_t t[5]) {
    int hb = b->bids.len > 0, ha = b->asks.len > 0;
    t[0] = !b->stale && !(hb && ha && b->bid >= b->ask);
    t[1] = hb ? b->bid : 0;
    t[2] = hb ? side_get(&b->bids, b->bid) : 0;
    t[3] = ha ? b->ask : 0;
    t[4] = ha ? side_get(&b->asks, b->ask) : 0;
}

/* Whether the NBBO key would differ with this top in place of kt (unusable tops are not in the key). */
static int key_moves(const int64_t kt[5], const int64_t t[5]) {
    if (!t[0] && !kt[0]) return 0;
    return t[0] != kt[0] || t[1] != kt[1] || t[2] != kt[2] || t[3] != kt[3] || t[4] != kt[4];
}

static int64_t record_size(const state_t *st) { return 7 + 5 * st->nbooks; }

/* Append the symbol's NBBO key as _nbbo_key builds it: row, symbol, bid px, bid qty, ask px, ask qty,
 * n, then n x (venue, bid, bid qty, ask, ask qty) of its usable venues (Python sorts them by name). */
static void emit(const state_t *st, int32_t sym, int64_t row, int64_t *out, int64_t *len) {
    int64_t *r = out + *len, n = 0, bid_px = 0, ask_px = 0, bid_qty = 0, ask_qty = 0, any = 0, any_ask = 0;
    for (int32_t k = st->head[sym]; k >= 0; k = st->books[k].next) {
        const book_t *b = &st->books[k];
        if (!b->exists || !b->kt[0]) continue;
        if (!any++ || b->kt[1] > bid_px) bid_px = b->kt[1];
        if (b->kt[4] && (!any_ask++ || b->kt[3] < ask_px)) ask_px = b->kt[3];
        int64_t *v = r + 7 + 5 * n++;
        v[0] = b->venue;
        memcpy(v + 1, b->kt + 1, sizeof(int64_t) * 4);
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t *v = r + 7 + 5 * i;
        if (bid_px && v[1] == bid_px && v[2]) bid_qty += v[2];
        if (ask_px && v[3] == ask_px && v[4]) ask_qty += v[4];
    }
    r[0] = row, r[1] = sym, r[2] = bid_px, r[3] = bid_qty, r[4] = ask_px, r[5] = ask_qty, r[6] = n;
    *len += 7 + 5 * n;
}

/* Fold rows [start, n) of a row group. Returns the row it stopped at: n when done, a status row (the
 * caller applies it with cb_drop and goes on from the next row), or a row whose change might not fit in
 * `out` (the caller drains `out` and goes on from that row); -1 when out of memory. With out == NULL
 * nothing is written. Level values of row i are [bo[i], bo[i+1]) of bp/bq (and ao/ap/aq). */
int64_t cb_fold(void *p, int64_t n, const int8_t *kinds, const int32_t *book_of, const int64_t *depths,
                const int64_t *bo, const int64_t *bp, const int64_t *bq, const int64_t *ao, const int64_t *ap,
                const int64_t *aq, int64_t start, int64_t *out, int64_t out_cap, int64_t *out_len) {
    state_t *st = p;
    int64_t t[5];
    for (int64_t i = start; i < n; i++) {
        int kind = kinds[i];
        book_t *b = &st->books[book_of[i]];
        if (kind == K_DELTA) {
            if (!b->exists || b->stale) continue;
        } else if (kind == K_SNAPSHOT) {
            b->exists = 1;
            side_clear(&b->bids);
            side_clear(&b->asks);
            b->bid = 0, b->ask = NO_ASK, b->stale = 0;
        } else if (kind == K_STATUS) {
            return i;
        } else {
            continue; /* trades and funding leave books alone */
        }
        if (out && *out_len + record_size(st) > out_cap) return i;
        int64_t bid = b->bid, ask = b->ask;
        int dirty = 0;
        for (int64_t j = bo[i]; j < bo[i + 1]; j++) {
            if (bq[j]) {
                if (side_put(&b->bids, bp[j], bq[j])) return -1;
                if (bp[j] > bid) bid = bp[j];
            } else if (side_del(&b->bids, bp[j]) && bp[j] == bid) {
                dirty = 1;
            }
        }
        if (dirty) bid = side_max(&b->bids, 0);
        dirty = 0;
        for (int64_t j = ao[i]; j < ao[i + 1]; j++) {
            if (aq[j]) {
                if (side_put(&b->asks, ap[j], aq[j])) return -1;
                if (ap[j] < ask) ask = ap[j];
            } else if (side_del(&b->asks, ap[j]) && ap[j] == ask) {
                dirty = 1;
            }
        }
        if (dirty) ask = side_min(&b->asks, NO_ASK);
        if (depths[i] > 0 && (side_truncate(&b->bids, depths[i], 1) || side_truncate(&b->asks, depths[i], 0)))
            return -1;
        b->bid = bid, b->ask = ask;
        read_top(b, t);
        if (!key_moves(b->kt, t)) {
            memcpy(b->kt, t, sizeof(t)); /* an unusable top: the key stays, the values do not matter */
            continue;
        }
        memcpy(b->kt, t, sizeof(t));
        if (out) emit(st, b->sym, i, out, out_len);
    }
    return n;
}

/* A venue drop at `row`: the given books (the caller's choice: the venue's books the status covers) go
 * stale, then every book of an affected symbol re-reads its top and the symbol's key is compared once,
 * as _on_status. Each changed symbol is emitted (the caller orders them by name); `out` (if given) must
 * hold a record per given book. Returns the number of changed symbols, -1 when out of memory. */
int64_t cb_drop(void *p, int64_t n, const int32_t *ids, int64_t row, int64_t *out, int64_t *out_len) {
    state_t *st = p;
    int64_t t[5], changed = 0, nsyms = 0;
    int32_t *syms = malloc(sizeof(int32_t) * (n ? n : 1));
    if (!syms) return -1;
    for (int64_t k = 0; k < n; k++) {
        book_t *b = &st->books[ids[k]];
        if (!b->exists || b->stale) continue;
        b->stale = 1;
        int64_t q = 0;
        while (q < nsyms && syms[q] != b->sym) q++;
        if (q == nsyms) syms[nsyms++] = b->sym;
    }
    for (int64_t q = 0; q < nsyms; q++) {
        int moved = 0;
        for (int32_t k = st->head[syms[q]]; k >= 0; k = st->books[k].next) {
            book_t *c = &st->books[k];
            if (!c->exists) continue;
            read_top(c, t);
            if (key_moves(c->kt, t)) moved = 1;
            memcpy(c->kt, t, sizeof(t));
        }
        if (moved) {
            changed++;
            if (out) emit(st, syms[q], row, out, out_len);
        }
    }
    free(syms);
    return changed;
}

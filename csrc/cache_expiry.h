/* Private to csrc/cache.c: the expiry order of each eviction class (non-member [0], member
 * [1]): nearest expiry first, ties by older insertion (SPEC 7 eviction, PROTOCOL.md §6 expiry;
 * docs/CACHE.md "Expiry order").
 *
 * A class's order is the merge of two structures:
 * - its run: a doubly-linked list of entries (exp_prev / exp_next) in expiry order, by
 *   construction: an insert whose expiry is not before the run's tail's is appended (its
 *   sequence number is the largest, so it sorts last). With one ttl and a monotonic clock
 *   (a relay's, a subscriber's or a publisher's stream) every insert is such an append:
 *   insert, remove and the minimum are O(1), one list link each;
 * - its heap (4-ary, keyed elements: cache_impl.h) for the inserts that would break the
 *   run's order (a shorter ttl than the last insert's, a restored expiry): O(log n) as before.
 * An entry is in exactly one of the two (heap_pos == NIL: in the run). The minimum is the
 * smaller of the run's head and the heap's root. Removing the root of a heap of ~10k entries
 * read and moved ~7 levels of elements: ~7% of a relay's CPU per new PUBLISH in a profile
 * (bench engine relay), now one unlink. */
#ifndef SRP_CACHE_EXPIRY_H
#define SRP_CACHE_EXPIRY_H
#include "cache_impl.h"

#define HEAP_ARITY 4

/* (expires, seq) of x before (expires, seq) of y: nearer expiry, then older insertion. */
static inline int key_before(double xe, uint64_t xs, double ye, uint64_t ys) {
    return xe < ye || (xe == ye && xs < ys);
}

/* ---- the heaps ---- */

static inline void heap_set(srp_cache *c, heap *h, size_t pos, const heap_item *item) {
    *heap_at(h, pos) = *item;
    c->e[item->idx].heap_pos = (uint32_t)pos;
}

/* Both sifts return where the element came to rest. */
static size_t sift_up(srp_cache *c, heap *h, size_t pos) {
    heap_item item = *heap_at(h, pos);
    while (pos > 0) {
        size_t parent = (pos - 1) / HEAP_ARITY;
        const heap_item *p = heap_at(h, parent);
        if (!item_before(&item, p)) break;
        heap_set(c, h, pos, p);
        pos = parent;
    }
    heap_set(c, h, pos, &item);
    return pos;
}

static size_t sift_down(srp_cache *c, heap *h, size_t pos) {
    heap_item item = *heap_at(h, pos);
    for (;;) {
        size_t first = HEAP_ARITY * pos + 1;
        if (first >= h->n) break;
        size_t last = first + HEAP_ARITY < h->n ? first + HEAP_ARITY : h->n; /* exclusive */
        /* The level below: whichever child wins, its children's elements are on the way. */
        for (size_t k = first; k < last && HEAP_ARITY * k + 1 < h->n; k++) {
            size_t below = HEAP_ARITY * k + HEAP_ARITY < h->n ? HEAP_ARITY * k + HEAP_ARITY
                                                              : h->n - 1;
            __builtin_prefetch(heap_at(h, HEAP_ARITY * k + 1), 1, 3);
            __builtin_prefetch(heap_at(h, below), 1, 3);
        }
        size_t m = first;
        for (size_t k = first + 1; k < last; k++)
            if (item_before(heap_at(h, k), heap_at(h, m))) m = k;
        if (!item_before(heap_at(h, m), &item)) break;
        heap_set(c, h, pos, heap_at(h, m));
        pos = m;
    }
    heap_set(c, h, pos, &item);
    return pos;
}

static void heap_push(srp_cache *c, heap *h, const entry *x, uint32_t idx) {
    heap_item item = {.expires = x->expires, .seq = x->seq, .idx = idx, .pad = 0};
    size_t pos = h->n++;
    *heap_at(h, pos) = item;
    sift_up(c, h, pos);
}

static void heap_remove(srp_cache *c, heap *h, size_t pos) {
    heap_item last = *heap_at(h, --h->n);
    if (pos == h->n) return;
    heap_set(c, h, pos, &last);
    if (sift_down(c, h, pos) == pos) sift_up(c, h, pos);
}

/* The heap's element that comes next after its root, or NULL (the smallest of the root's
 * children). */
static inline const heap_item *heap_second(const heap *h) {
    if (h->n < 2) return NULL;
    size_t m = 1;
    for (size_t j = 2; j <= HEAP_ARITY && j < h->n; j++)
        if (item_before(heap_at(h, j), heap_at(h, m))) m = j;
    return heap_at(h, m);
}

/* ---- a class's order: run + heap ---- */

/* Entry x (expires and seq set, x->member its class) into its class's order. */
static inline void expiry_push(srp_cache *c, uint32_t i) {
    entry *x = &c->e[i];
    exp_run *r = &c->runs[x->member];
    if (r->tail != NIL && x->expires < c->e[r->tail].expires) { /* would break the run */
        heap_push(c, &c->heaps[x->member], x, i);
        return;
    }
    x->heap_pos = NIL;
    x->exp_prev = r->tail;
    x->exp_next = NIL;
    if (r->tail != NIL) c->e[r->tail].exp_next = i;
    else r->head = i;
    r->tail = i;
}

static inline void expiry_remove(srp_cache *c, uint32_t i) {
    entry *x = &c->e[i];
    if (x->heap_pos != NIL) {
        heap_remove(c, &c->heaps[x->member], x->heap_pos);
        return;
    }
    exp_run *r = &c->runs[x->member];
    if (x->exp_prev != NIL) c->e[x->exp_prev].exp_next = x->exp_next;
    else r->head = x->exp_next;
    if (x->exp_next != NIL) c->e[x->exp_next].exp_prev = x->exp_prev;
    else r->tail = x->exp_prev;
}

/* The earlier of run entry `ri` (NIL: none) and heap element `hi` (NULL: none): an entry
 * number, NIL when both are absent. */
static inline uint32_t earlier(const srp_cache *c, uint32_t ri, const heap_item *hi) {
    if (ri == NIL) return hi ? hi->idx : NIL;
    if (!hi) return ri;
    const entry *x = &c->e[ri];
    return key_before(x->expires, x->seq, hi->expires, hi->seq) ? ri : hi->idx;
}

/* The first entry of class k's order, NIL when the class is empty. */
static inline uint32_t expiry_first(const srp_cache *c, int k) {
    const heap *h = &c->heaps[k];
    return earlier(c, c->runs[k].head, h->n ? heap_at(h, 0) : NULL);
}

/* The first entry of class k's order that is not `skip` (the newest: SPEC 7 never evicts
 * it), NIL when there is none. The order without `skip` starts with the run's head or the
 * heap's root, or, where that is `skip`, with the run's second entry or the heap's second. */
static inline uint32_t expiry_first_but(const srp_cache *c, int k, uint32_t skip) {
    const heap *h = &c->heaps[k];
    uint32_t ri = c->runs[k].head;
    if (ri != NIL && ri == skip) ri = c->e[ri].exp_next;
    const heap_item *hi = h->n ? heap_at(h, 0) : NULL;
    if (hi && hi->idx == skip) hi = heap_second(h);
    return earlier(c, ri, hi);
}

#endif

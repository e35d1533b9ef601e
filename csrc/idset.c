/* Bounded FIFO set of 32-byte ids: see idset.h. */
#include "idset.h"

#include <stdlib.h>
#include <string.h>

#include "bigalloc.h"
#include "oa_index.h"
#include "seen.h"

struct srp_ids {
    uint8_t (*ring)[32];  /* ids in arrival order: [head] oldest, count live from there */
    uint32_t *hashes;     /* each ring id's hash (its index entry is found without rehashing) */
    uint64_t *index;      /* (hash low 32 << 32) | (ring position + 1); 0 empty */
    size_t cap, head, count, mask;
    size_t max_slots;     /* the index grows to this (load <= 1/2 at capacity) */
    uint64_t seed;
};

#define INITIAL_SLOTS 64
#define ID_BYTES (32 + sizeof(uint32_t)) /* an id in the ring and its hash */

static uint32_t hash_id(const srp_ids *s, const uint8_t *id) {
    return (uint32_t)srp_hash64(id, 32, s->seed);
}

srp_ids *srp_ids_new(size_t capacity, uint64_t seed) {
    srp_ids *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cap = capacity;
    s->seed = seed;
    /* The index starts small and doubles as ids come (grow): its slots are touched at
     * random, so one sized for the capacity at once would become resident page by page
     * within a few hundred ids (a simulator's thousands of engines, docs/SIMULATION.md
     * "Memory"); the ring and hashes fill in order, their pages resident as they fill. */
    size_t slots = 16;
    while (slots < 2 * capacity) slots <<= 1;  /* load <= 1/2: short probe runs */
    s->max_slots = slots;
    if (slots > INITIAL_SLOTS) slots = INITIAL_SLOTS;
    s->mask = slots - 1;
    s->index = srp_big_calloc(slots, sizeof *s->index);
    /* ring and hashes in one mapping (a simulator's engines each hold one such set) */
    uint8_t *mem = capacity ? srp_big_calloc(capacity, ID_BYTES) : NULL;
    s->ring = (uint8_t(*)[32])mem;
    s->hashes = mem ? (uint32_t *)(mem + capacity * sizeof *s->ring) : NULL;
    if (!s->index || (capacity && !mem)) {
        srp_ids_free(s);
        return NULL;
    }
    return s;
}

void srp_ids_free(srp_ids *s) {
    if (!s) return;
    srp_big_free(s->index, s->mask + 1, sizeof *s->index);
    if (s->ring) srp_big_free(s->ring, s->cap, ID_BYTES);
    free(s);
}

size_t srp_ids_len(const srp_ids *s) { return s->count; }
size_t srp_ids_capacity(const srp_ids *s) { return s->cap; }

size_t srp_ids_memory_bytes(const srp_ids *s) {
    return sizeof *s + (s->mask + 1) * sizeof *s->index +  /* (the ring and hashes mapped; */
           s->cap * (sizeof *s->ring + sizeof *s->hashes);  /* resident as they fill) */
}

/* The index slot holding id (hash h), or the empty slot that ends its probe run. */
static size_t find_slot(const srp_ids *s, uint32_t h, const uint8_t *id) {
    size_t p = h & s->mask;
    for (;;) {
        uint64_t v = s->index[p];
        if (!v) return p;
        if ((uint32_t)(v >> 32) == h && !memcmp(s->ring[(uint32_t)v - 1], id, 32)) return p;
        p = (p + 1) & s->mask;
    }
}

/* Make room for `want` ids at load <= 1/2 (up to max_slots): a larger index, every live id
 * re-entered from the ring (its hash kept beside it). 0, or -1 when out of memory (nothing
 * changed). */
static int grow(srp_ids *s, size_t want) {
    size_t slots = s->mask + 1;
    while (2 * want > slots && slots < s->max_slots) slots <<= 1;
    if (slots == s->mask + 1) return 0;
    uint64_t *t = srp_big_calloc(slots, sizeof *t);
    if (!t) return -1;
    size_t mask = slots - 1, pos = s->head;
    for (size_t k = 0; k < s->count; k++) {
        size_t p = s->hashes[pos] & mask;
        while (t[p]) p = (p + 1) & mask;
        t[p] = ((uint64_t)s->hashes[pos] << 32) | (uint64_t)(pos + 1);
        pos = pos + 1 == s->cap ? 0 : pos + 1;
    }
    srp_big_free(s->index, s->mask + 1, sizeof *s->index);
    s->index = t;
    s->mask = mask;
    return 0;
}

int srp_ids_has(const srp_ids *s, const uint8_t id[32]) {
    if (!s->count) return 0;
    return s->index[find_slot(s, hash_id(s, id), id)] != 0;
}

/* Add an id known to be absent, whose empty probe slot is `slot` (hash h). */
static void insert_new(srp_ids *s, uint32_t h, const uint8_t *id, size_t slot) {
    size_t pos;
    if (s->count == s->cap) { /* the oldest goes: its slot in the ring is reused */
        pos = s->head;
        oa_index ix = {s->index, s->mask};
        oa_del(&ix, s->hashes[pos], (uint32_t)pos);
        s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
        slot = find_slot(s, h, id); /* the deletion may have moved the run */
    } else {
        pos = s->head + s->count;
        if (pos >= s->cap) pos -= s->cap;
        s->count++;
    }
    memcpy(s->ring[pos], id, 32);
    s->hashes[pos] = h;
    s->index[slot] = oa_pack(h, (uint32_t)pos);
}

int srp_ids_add(srp_ids *s, const uint8_t id[32]) {
    if (!s->cap) return 1;
    uint32_t h = hash_id(s, id);
    size_t slot = find_slot(s, h, id);
    if (s->index[slot]) return 0;
    if (s->count < s->cap && 2 * (s->count + 1) > s->mask + 1) {
        if (grow(s, s->count + 1) != 0) return -1;
        slot = find_slot(s, h, id);
    }
    insert_new(s, h, id, slot);
    return 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Does any id repeat within the list? Equal ids have equal hashes (hs[k]), so only ids with
 * equal hashes are compared: found through a small table on the stack (a receive batch's
 * worth), or by sorting (hash << 32 | k) in byhash for a longer list. */
#define REPEAT_SLOTS 1024
static int repeats(const uint8_t *const *ids, const uint64_t *hs, size_t n, uint64_t *byhash) {
    if (2 * n <= REPEAT_SLOTS) {
        uint16_t t[REPEAT_SLOTS]; /* k + 1; 0 empty */
        memset(t, 0, sizeof t);
        for (size_t k = 0; k < n; k++) {
            size_t p = hs[k] & (REPEAT_SLOTS - 1);
            for (; t[p]; p = (p + 1) & (REPEAT_SLOTS - 1))
                if (hs[t[p] - 1] == hs[k] && !memcmp(ids[t[p] - 1], ids[k], 32)) return 1;
            t[p] = (uint16_t)(k + 1);
        }
        return 0;
    }
    for (size_t k = 0; k < n; k++) byhash[k] = (hs[k] << 32) | k;
    qsort(byhash, n, sizeof *byhash, cmp_u64);
    for (size_t a = 0; a + 1 < n; a++)
        for (size_t b = a + 1; b < n && (byhash[b] >> 32) == (byhash[a] >> 32); b++)
            if (!memcmp(ids[(uint32_t)byhash[a]], ids[(uint32_t)byhash[b]], 32)) return 1;
    return 0;
}

/* How far ahead of its use an index slot is requested. The index is larger than the CPU
 * caches and, between two receive batches, the data plane's work evicts it: each probe and
 * each removal of the oldest id is a likely miss. Requested all up front (a batch's 128 ids
 * and the 128 it drops), they hid few of those misses: add_ready took 0.13-0.19 us an id in
 * the on_batch row's receive path (socket-less, the rest of the path as live); requested
 * 6-12 ahead of their use, 0.10-0.13 in the same interleaved runs (session 13). Alone in a
 * loop, the index stays cached and both take ~0.07. */
#define PREFETCH_AHEAD 8

int srp_ids_add_fresh(srp_ids *s, const uint8_t *const *ids, size_t n, uint64_t *scratch) {
    uint64_t *hs = scratch;
    for (size_t k = 0; k < n; k++) hs[k] = hash_id(s, ids[k]);
    if (s->count) {
        for (size_t k = 0; k < n && k < PREFETCH_AHEAD; k++)
            __builtin_prefetch(&s->index[hs[k] & s->mask]);
        for (size_t k = 0; k < n; k++) {
            if (k + PREFETCH_AHEAD < n)
                __builtin_prefetch(&s->index[hs[k + PREFETCH_AHEAD] & s->mask]);
            if (s->index[find_slot(s, (uint32_t)hs[k], ids[k])]) return 0;
        }
    }
    if (n > 1 && repeats(ids, hs, n, scratch + n)) return 0;
    if (!s->cap) return 1;
    if (grow(s, s->count + n < s->cap ? s->count + n : s->cap) != 0) return -1;
    /* At capacity each insert first drops the oldest id (insert_new): the k-th insert the id
     * at ring position head + k, whose index slot is requested PREFETCH_AHEAD inserts early
     * (the ids' own slots were just probed above: cached). */
    size_t drop = s->count + n > s->cap ? s->count + n - s->cap : 0;
    for (size_t k = 0, pos = s->head; k < drop && k < s->count && k < PREFETCH_AHEAD; k++) {
        __builtin_prefetch(&s->index[s->hashes[pos] & s->mask], 1);
        pos = pos + 1 == s->cap ? 0 : pos + 1;
    }
    for (size_t k = 0; k < n; k++) {
        if (s->count == s->cap && k + PREFETCH_AHEAD < drop) {
            size_t pos = s->head + PREFETCH_AHEAD; /* (head moves on by one per insert) */
            while (pos >= s->cap) pos -= s->cap;   /* (a set smaller than the distance) */
            __builtin_prefetch(&s->index[s->hashes[pos] & s->mask], 1);
        }
        uint32_t h = (uint32_t)hs[k];
        insert_new(s, h, ids[k], find_slot(s, h, ids[k]));
    }
    return 1;
}

static const uint8_t zero32[32];

int srp_ids_add_ready(srp_ids *s, const uint8_t *const *ids, const uint8_t *const *prevs,
                      size_t n, int ordering, uint64_t *scratch) {
    if (ordering) {
        const uint8_t *ok = NULL; /* the last previous id found delivered (neighbours share) */
        for (size_t k = 0; k < n; k++) {
            const uint8_t *p = prevs[k];
            if (ok && (p == ok || !memcmp(p, ok, 32))) continue;
            if (memcmp(p, zero32, 32) && !srp_ids_has(s, p)) {
                /* earlier in the list? Searched backwards: in a chain of single messages
                 * (emit() calls) each names the one just before it */
                size_t j = k;
                while (j > 0 && memcmp(ids[j - 1], p, 32)) j--;
                if (j == 0) return 0; /* it must wait (SPEC 6 ordering): the caller's path */
            }
            ok = p;
        }
    }
    return srp_ids_add_fresh(s, ids, n, scratch);
}

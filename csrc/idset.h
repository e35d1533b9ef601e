/* A bounded FIFO set of 32-byte ids: the delivered-message ids of a member (SPEC 6: a
 * message is delivered once; ordering asks whether a predecessor was delivered).
 *
 * Exact (ids are compared whole, not by digest), at most `capacity` ids, the oldest added
 * goes first (a repeat does not refresh it): the same rules as control/bounded.py FifoSet,
 * whose Python set of bytes it replaces on the delivery path, so that the per-batch test
 * "are these new, are their predecessors delivered" and the insertion of a batch of ids run
 * as one C loop over the ids (srp_ids_add_ready) instead of Python set work per id.
 * Ring of ids in arrival order + an open-addressing index (linear probing, keyed hash,
 * backward-shift deletion) that doubles as ids come; no allocation per id. */
#ifndef SRP_IDSET_H
#define SRP_IDSET_H
#include <stddef.h>
#include <stdint.h>

typedef struct srp_ids srp_ids;

/* capacity 0: remembers nothing (every add is new). NULL when out of memory. */
srp_ids *srp_ids_new(size_t capacity, uint64_t seed);
void srp_ids_free(srp_ids *s);
size_t srp_ids_len(const srp_ids *s);
size_t srp_ids_capacity(const srp_ids *s);
size_t srp_ids_memory_bytes(const srp_ids *s);

int srp_ids_has(const srp_ids *s, const uint8_t id[32]);
/* 1 when id was new (and is now remembered, the oldest leaving at capacity), 0 when present,
 * -1 when out of memory (the index could not grow; nothing changed). */
int srp_ids_add(srp_ids *s, const uint8_t id[32]);

/* n ids (pointers): when none is present and none repeats, add them all in order and return
 * 1; otherwise change nothing and return 0 (-1: out of memory, nothing changed). `scratch` has room for
 * 2 * n uint64_t. */
int srp_ids_add_fresh(srp_ids *s, const uint8_t *const *ids, size_t n, uint64_t *scratch);

/* The delivery path's common case in one call (control/replication.py on_messages): with
 * `ordering` set, every previous id must be zero, present, or equal to an id earlier in the
 * list (delivered before it: the list is delivered in order), else 0 and nothing changes;
 * then srp_ids_add_fresh (scratch likewise). prevs[k] is message k's previousId. */
int srp_ids_add_ready(srp_ids *s, const uint8_t *const *ids, const uint8_t *const *prevs,
                      size_t n, int ordering, uint64_t *scratch);
#endif

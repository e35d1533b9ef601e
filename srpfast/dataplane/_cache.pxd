# Cython declarations of csrc/cache.h and the CacheCore type, so other extensions (the data
# plane) can cimport them and hand the same C cache to their own C code:
#     from srpfast.dataplane._cache cimport CacheCore, srp_cache, srp_cache_offer
# Such a module must link cache.c seen.c frame.c sha256.c (+ cache_query.c for queries).
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "cache.h" nogil:
    enum:
        SRP_CACHE_INSERTED
        SRP_CACHE_DUPLICATE
        SRP_CACHE_REFUSED_SHARE
        SRP_CACHE_INVALID
        SRP_SHARE_REPLACE
        SRP_SHARE_REFUSE
        SRP_CC_COUNT
        SRP_CC_INVALID
    ctypedef struct srp_cache:
        pass
    const char *srp_cache_counter_name(int counter)
    srp_cache *srp_cache_new_ex(size_t capacity_bytes, double source_share, int share_policy,
                                double seen_horizon, uint64_t seed)
    void srp_cache_free(srp_cache *c)
    size_t srp_cache_count(const srp_cache *c)
    size_t srp_cache_slots(const srp_cache *c)
    size_t srp_cache_share_slots(const srp_cache *c)
    size_t srp_cache_entry_bytes(const srp_cache *c)
    size_t srp_cache_bytes_used(const srp_cache *c)
    size_t srp_cache_memory_bytes(const srp_cache *c)
    void srp_cache_counters(const srp_cache *c, uint64_t *out)
    int srp_cache_insert(srp_cache *c, const uint8_t *frame, const uint8_t *id, uint64_t source_key,
                         double now, int member)
    size_t srp_cache_insert_batch(srp_cache *c, const uint8_t *frames, const uint8_t *ids,
                                  size_t count, uint64_t source_key, double now, int member)
    int srp_cache_insert_expiring(srp_cache *c, const uint8_t *frame, const uint8_t *id,
                                  uint64_t source_key, double now, double expires, int member)
    int srp_cache_offer(srp_cache *c, const uint8_t *d, size_t n, uint64_t source_key, double now,
                        int member, uint8_t *id_out)
    size_t srp_cache_offer_batch(srp_cache *c, const uint8_t *buf, size_t stride,
                                 const uint32_t *lens, size_t count, const uint64_t *sources,
                                 int one_source, double now, int member, uint8_t *verdicts)
    const uint8_t *srp_cache_get(const srp_cache *c, const uint8_t *id)
    int srp_cache_contains(const srp_cache *c, const uint8_t *id)
    size_t srp_cache_contains_batch(const srp_cache *c, const uint8_t *ids, size_t count,
                                    uint8_t *out)
    int srp_cache_remove(srp_cache *c, const uint8_t *id)
    size_t srp_cache_expire(srp_cache *c, double now, uint8_t *out, size_t max_out)
    double srp_cache_next_expiry(const srp_cache *c)
    size_t srp_cache_lowest_hops(const srp_cache *c, size_t k, const uint8_t *cluster,
                                 uint8_t *ids_out)
    size_t srp_cache_by_previous(const srp_cache *c, const uint8_t *prev, uint8_t *ids_out,
                                 size_t max)
    int srp_cache_by_next(const srp_cache *c, const uint8_t *next, uint8_t *id_out)
    int srp_cache_summary(const srp_cache *c, const uint8_t *nibbles, size_t depth,
                          uint32_t *counts, uint64_t *hashes)
    int srp_cache_bucket(const srp_cache *c, const uint8_t *nibbles, size_t depth,
                         uint32_t *count, uint64_t *hash)
    size_t srp_cache_ids_with_prefix(const srp_cache *c, const uint8_t *nibbles, size_t depth,
                                     uint8_t *ids_out, size_t max)
    int srp_cache_slot(const srp_cache *c, size_t slot, const uint8_t **frame, const uint8_t **id,
                       double *expires, uint64_t *source_key, int *member)


cdef class CacheCore:
    cdef srp_cache *c

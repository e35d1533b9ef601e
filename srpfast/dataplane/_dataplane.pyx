# csrc: dataplane.c deliver.c deliver_chains.c seal.c chacha16.c cache.c cache_query.c seen.c frame.c sha256.c
"""The relay data plane (csrc/dataplane.c): one C call per receive batch, no Python per
relayed packet. The engine pushes the candidate table and membership down when they change;
``process`` returns how many frames to send (``out_frames``/``out_addrs``, ready for
``UDPSocket.send_prepared``; grouped by next hop, ``runs()`` naming the groups worth one UDP
GSO send each) and which datagrams the control plane must see."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from cpython.buffer cimport PyBuffer_FillInfo
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcmp, memcpy, memset

from srpfast.dataplane._cache cimport CacheCore, srp_cache
from srpfast.wire._cframe cimport SRP_PACKET_BYTES
from srpfast.errors import ArgumentError

cdef extern from "dataplane.h" nogil:
    enum:
        SRP_DP_MAX_PEERS
        SRP_DP_MAX_MEMBERS
        SRP_DP_ADDR_BYTES
        SRP_DP_UP_CONTROL
        SRP_DP_UP_DELIVER
        SRP_DP_UP_VARIANT
        SRP_DPC_COUNT
        SRP_DPC_HOPS
        SRP_DP_RUN_MIN
    ctypedef struct srp_dataplane:
        pass
    const char *srp_dp_counter_name(int counter)
    uint64_t srp_dp_counter(const srp_dataplane *dp, int counter)
    srp_dataplane *srp_dp_new(srp_cache *cache, unsigned fanout, unsigned max_hops, uint64_t seed)
    srp_dataplane *srp_dp_new_ex(srp_cache *cache, unsigned fanout, unsigned max_hops,
                                 uint64_t seed, size_t seen_copies)
    void srp_dp_free(srp_dataplane *dp)
    size_t srp_dp_set_peers(srp_dataplane *dp, size_t n, const uint8_t *addrs,
                            const uint64_t *keys, const double *weights, const uint8_t *hard)
    void srp_dp_set_self_hard(srp_dataplane *dp, int hard)
    void srp_dp_set_policy(srp_dataplane *dp, int policy, unsigned spray_depth)
    void srp_dp_set_membership(srp_dataplane *dp, size_t ntags, const uint8_t *tags,
                               size_t nsubs, const uint8_t *subs)
    void srp_dp_process(srp_dataplane *dp, const uint8_t *buf, size_t stride,
                        const uint32_t *lens, const uint64_t *src_keys, const uint8_t *drop,
                        size_t count, double now,
                        uint8_t *out_frames, uint8_t *out_addrs, size_t out_cap, size_t *n_out,
                        uint32_t *runs, size_t *n_runs, uint32_t *up_index, uint8_t *up_kind, size_t *n_up, uint8_t *ids)
    size_t srp_dp_choose(srp_dataplane *dp, uint64_t exclude_key, size_t k, uint32_t *idx_out)
    void srp_dp_counters(const srp_dataplane *dp, uint64_t *out)

cdef extern from "deliver.h" nogil:
    enum:
        SRP_DL_MAX_SUBS
        SRP_DL_PLAIN_BYTES
        SRP_DLC_COUNT
    ctypedef struct srp_dl_msg:
        uint32_t item
        uint32_t arena_off
        uint32_t clock
        uint16_t sub
        uint8_t hops
        uint32_t payload_off
        uint32_t payload_len
        uint32_t author_off
        uint8_t previous[32]
    ctypedef struct srp_deliver:
        pass
    const char *srp_dl_counter_name(int counter)
    srp_deliver *srp_dl_new(size_t roots, size_t delivered)
    void srp_dl_free(srp_deliver *dl)
    void srp_dl_set_keys(srp_deliver *dl, size_t n, const uint8_t *ids, const uint8_t *tags,
                         const uint8_t *keys)
    size_t srp_dl_nkeys(const srp_deliver *dl)
    size_t srp_dl_take(srp_deliver *dl, const uint8_t *buf, size_t stride, const uint8_t *ids,
                       uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                       unsigned deliver_kind, srp_dl_msg *msgs, uint8_t *arena)
    size_t srp_dl_take_chains(srp_deliver *dl, const uint8_t *buf, size_t stride,
                              const uint8_t *ids, uint32_t *up_index, uint8_t *up_kind,
                              size_t *n_up, unsigned deliver_kind, srp_dl_msg *msgs,
                              uint8_t *arena)
    size_t srp_dl_take_fragments(const uint8_t *buf, size_t stride, const uint8_t *ids,
                                 uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                                 unsigned deliver_kind, uint8_t *frames, uint8_t *out_ids,
                                 uint32_t *items)
    void srp_dl_counters(const srp_deliver *dl, uint64_t *out)

cdef extern from "Python.h":
    object PyList_New(Py_ssize_t n)
    void PyList_SET_ITEM(object lst, Py_ssize_t i, object item)
    void Py_INCREF(object o)


cdef inline void _set(list lst, Py_ssize_t i, object item):
    Py_INCREF(item)  # PyList_SET_ITEM steals a reference
    PyList_SET_ITEM(lst, i, item)


ADDR_BYTES = SRP_DP_ADDR_BYTES
RUN_MIN = SRP_DP_RUN_MIN
UP_CONTROL = SRP_DP_UP_CONTROL
UP_DELIVER = SRP_DP_UP_DELIVER
UP_VARIANT = SRP_DP_UP_VARIANT
COUNTER_NAMES = tuple(srp_dp_counter_name(i).decode() for i in range(SRP_DPC_COUNT))
DELIVER_COUNTER_NAMES = tuple(srp_dl_counter_name(i).decode() for i in range(SRP_DLC_COUNT))
MAX_KEYED_SUBCLUSTERS = SRP_DL_MAX_SUBS
# Fragments a caller may keep from earlier batches for deliver_carried (a 64 KB value is 67):
# the least a data plane takes (DataPlane.max_carried: twice its max_batch when that is more,
# so the fragments kept, at most max_carried - max_batch after each batch, and a whole next
# batch of them always fit one call; control/carry.py).
MAX_CARRIED = 256


cdef extern from "bigalloc.h":
    void *srp_big_calloc_paged(size_t n, size_t size)
    void srp_big_free_paged(void *p, size_t n, size_t size)

# A scratch buffer of at least a page gets pages of its own (below).
cdef Py_ssize_t SCRATCH_PAGED = 4096


cdef class _Scratch:
    """n bytes of output scratch, not initialised, readable as a memoryview (which keeps it
    alive). Those of a page or more are pages of their own (csrc/bigalloc.h), written only as
    far as a batch needs: from malloc, glibc would hand each new engine a hole that an earlier
    one had made resident (the soak's RSS, issue 13). The threshold is a page, not
    SRP_BIG_MIN: the opened-message arena (63 KiB at 64 messages a batch) and the carried ids
    (8 KiB) were malloc's, resident whole in a simulator whose engines open a message or
    two a batch (82 KiB of scratch an engine, session 15)."""
    cdef uint8_t *p
    cdef Py_ssize_t n

    def __cinit__(self, Py_ssize_t n):
        self.n = n
        if n >= SCRATCH_PAGED:
            self.p = <uint8_t *>srp_big_calloc_paged(<size_t>n, 1)
        else:
            self.p = <uint8_t *>PyMem_Malloc(<size_t>n)
        if self.p == NULL:
            raise MemoryError("cannot allocate the data plane")

    def __dealloc__(self):
        if self.n >= SCRATCH_PAGED:
            srp_big_free_paged(self.p, <size_t>self.n, 1)
        else:
            PyMem_Free(self.p)

    def __getbuffer__(self, Py_buffer *buf, int flags):
        PyBuffer_FillInfo(buf, self, self.p, self.n, 0, flags)

    def __releasebuffer__(self, Py_buffer *buf):
        pass


cdef class DataPlane:
    cdef srp_dataplane *dp
    cdef srp_deliver *dl
    cdef srp_dl_msg *_msgs
    cdef _Scratch _arena
    cdef uint8_t *_arenap
    # deliver_carried's own records, arena and list; messages() reads the last call's
    cdef srp_dl_msg *_cmsgs
    cdef _Scratch _carena, _cup_index, _cup_kind, _cids
    cdef srp_dl_msg *_cur_msgs
    cdef uint8_t *_cur_arena
    cdef uint8_t *_cur_ids
    cdef readonly Py_ssize_t n_msgs
    cdef readonly CacheCore cache
    cdef readonly Py_ssize_t max_batch, fanout
    cdef _Scratch _out, _addrs, _runs, _up_index, _up_kind, _ids
    cdef uint8_t *_outp
    cdef uint8_t *_addrp
    cdef uint32_t *_runp
    cdef uint32_t *_upip
    cdef uint8_t *_upkp
    cdef uint8_t *_idp
    cdef readonly Py_ssize_t n_out, n_up, n_runs
    # Of the last batch: datagrams dropped for their hops (above max_hops), counted by the
    # engine as drop.hops like its own path's (one hop rule, SPEC 2/6).
    cdef readonly Py_ssize_t n_hops
    # With carry_fragments set, process() takes the fragments it could not assemble out of
    # the hand-up list into these (fragments(): control/carry.py keeps them for
    # deliver_carried), instead of handing each up.
    cdef public bint carry_fragments
    cdef _Scratch _frag, _fid, _fitem
    cdef readonly Py_ssize_t n_frags
    # Fragments deliver_carried takes in one call (MAX_CARRIED, the least).
    cdef readonly Py_ssize_t max_carried

    def __cinit__(self, CacheCore cache not None, *, unsigned fanout=3, unsigned max_hops=16,
                  uint64_t seed=0, Py_ssize_t max_batch=64, Py_ssize_t delivered_ids=1 << 20,
                  Py_ssize_t seen_copies=65536, Py_ssize_t verified_roots=4096):
        # seen_copies: copy keys remembered beyond the cache (Config.seen_ids);
        # verified_roots: signed batch roots remembered (Config.verified_envelopes).
        if not 1 <= fanout <= 16 or max_batch < 1 or seen_copies < 1 or verified_roots < 1:
            raise ArgumentError("fanout must be 1..16, max_batch, seen_copies and "
                                "verified_roots >= 1")
        self.cache = cache  # keeps the C cache alive as long as the data plane
        self.dp = srp_dp_new_ex(cache.c, fanout, max_hops, seed, <size_t>seen_copies)
        self.dl = srp_dl_new(<size_t>verified_roots, <size_t>max(delivered_ids, 64))
        self.max_carried = max(MAX_CARRIED, 2 * max_batch)
        self._msgs = <srp_dl_msg *>malloc(max_batch * sizeof(srp_dl_msg))
        self._cmsgs = <srp_dl_msg *>malloc(self.max_carried * sizeof(srp_dl_msg))
        if self.dp == NULL or self.dl == NULL or self._msgs == NULL or self._cmsgs == NULL:
            raise MemoryError("cannot allocate the data plane")
        self.max_batch = max_batch
        self.fanout = fanout
        # Output buffers are allocated once and never resized (pointers stay valid). Not
        # zero-filled: only what process() wrote is ever read (n_out, n_up, n_runs), and an
        # untouched page costs no memory until used (0.3 MiB an engine when zero-filled: a
        # simulator holds thousands, docs/SIMULATION-scale.md); the large ones are mmapped
        # (_Scratch), so that stays true after other engines have come and gone.
        self._out = _Scratch(SRP_PACKET_BYTES * max_batch * fanout)
        self._addrs = _Scratch(SRP_DP_ADDR_BYTES * max_batch * fanout)
        self._runs = _Scratch(8 * max_batch * fanout)
        self._up_index = _Scratch(4 * max_batch)
        self._up_kind = _Scratch(max_batch)
        self._ids = _Scratch(32 * max_batch)
        self._outp = self._out.p
        self._addrp = self._addrs.p
        self._runp = <uint32_t *>self._runs.p
        self._upip = <uint32_t *>self._up_index.p
        self._upkp = self._up_kind.p
        self._idp = self._ids.p
        self._arena = _Scratch(SRP_DL_PLAIN_BYTES * max_batch)
        self._arenap = self._arena.p
        # (not zero-filled: an engine that never carries a fragment never touches them)
        self._carena = _Scratch(SRP_DL_PLAIN_BYTES * self.max_carried)
        self._cup_index = _Scratch(4 * self.max_carried)
        self._cup_kind = _Scratch(self.max_carried)
        self._cids = _Scratch(32 * self.max_carried)
        self._frag = _Scratch(SRP_PACKET_BYTES * max_batch)
        self._fid = _Scratch(32 * max_batch)
        self._fitem = _Scratch(4 * max_batch)
        self._cur_msgs, self._cur_arena, self._cur_ids = self._msgs, self._arenap, self._idp

    def __dealloc__(self):
        srp_dp_free(self.dp)
        srp_dl_free(self.dl)
        free(self._msgs)
        free(self._cmsgs)

    def set_peers(self, const uint8_t[::1] addrs, const uint64_t[::1] keys,
                  const double[::1] weights, const uint8_t[::1] hard) -> int:
        """Candidate next hops: packed sockaddrs (ADDR_BYTES each), their source keys,
        weights (> 0) and Hard flags, all of the same count."""
        cdef size_t n = keys.shape[0]
        if weights.shape[0] != n or hard.shape[0] != n or addrs.shape[0] != n * SRP_DP_ADDR_BYTES:
            raise ArgumentError("addrs, keys, weights and hard must describe the same peers")
        if n == 0:
            return srp_dp_set_peers(self.dp, 0, NULL, NULL, NULL, NULL)
        return srp_dp_set_peers(self.dp, n, &addrs[0], &keys[0], &weights[0], &hard[0])

    def set_self_hard(self, bint hard) -> None:
        srp_dp_set_self_hard(self.dp, hard)

    def set_policy(self, int policy, unsigned spray_depth=0) -> None:
        """The replication policy (Config.replication; 0 weighted, 1 flood, 2 spray with
        its depth): a simulation/research knob, docs/SIMULATION.md."""
        srp_dp_set_policy(self.dp, policy, spray_depth)

    def set_membership(self, tags, subclusters) -> None:
        """Cluster tags (16 bytes) this peer is in; subcluster ids (32 bytes) it can open."""
        cdef bytes t = b"".join(tags), s = b"".join(subclusters)
        if len(t) != 16 * len(tags) or len(s) != 32 * len(subclusters):
            raise ArgumentError("tags are 16 bytes and subcluster ids 32 bytes each")
        if len(tags) > SRP_DP_MAX_MEMBERS or len(subclusters) > SRP_DP_MAX_MEMBERS:
            raise ArgumentError(f"at most {SRP_DP_MAX_MEMBERS} clusters and subclusters")
        srp_dp_set_membership(self.dp, len(tags), <const uint8_t *><char *>t, len(subclusters),
                              <const uint8_t *><char *>s)

    def set_keys(self, ids, tags, keys) -> None:
        """The subclusters to deliver in C: their ids (32 bytes), cluster tags (16) and AEAD
        keys (32), one entry each. An empty list turns C delivery off (everything for our
        subclusters is then handed up as UP_DELIVER / UP_VARIANT, as without keys)."""
        cdef bytes i = b"".join(ids), t = b"".join(tags), k = b"".join(keys)
        n = len(ids)
        if len(tags) != n or len(keys) != n or len(i) != 32 * n or len(t) != 16 * n \
                or len(k) != 32 * n:
            raise ArgumentError("one 32-byte id, 16-byte tag and 32-byte key per subcluster")
        if n > SRP_DL_MAX_SUBS:
            raise ArgumentError(f"at most {SRP_DL_MAX_SUBS} subclusters are delivered in C")
        srp_dl_set_keys(self.dl, n, <const uint8_t *><char *>i, <const uint8_t *><char *>t,
                        <const uint8_t *><char *>k)

    def process(self, const uint8_t[::1] buf, Py_ssize_t count, const uint32_t[::1] lens=None,
                const uint64_t[::1] keys=None, double now=0.0, Py_ssize_t stride=SRP_PACKET_BYTES,
                const uint8_t[::1] drop=None) -> int:
        """Run one receive batch through the data plane. Returns the number of frames to send;
        ``n_up`` items are to be handed to the control plane (``up(i)``). ``drop``: one byte
        per datagram, nonzero for those whose sender is over its rate limit: they are
        counted (``rate``) and skipped, the rest of the batch stays on this path (SPEC 9.6)."""
        cdef size_t n_out = 0, n_up = 0, n_runs = 0, n_msgs = 0, n_frags = 0
        cdef uint64_t hops0
        cdef bint carry = self.carry_fragments
        if count < 0 or count > self.max_batch:
            raise ArgumentError(f"count must be 0..{self.max_batch}")
        if not SRP_PACKET_BYTES <= stride <= 65536:
            # bounded so that count * stride cannot overflow in the size check below
            raise ArgumentError(f"stride must be {SRP_PACKET_BYTES}..65536")
        if count and <size_t>buf.shape[0] < <size_t>((count - 1) * stride + SRP_PACKET_BYTES):
            raise ArgumentError("buf is shorter than count frames")
        if lens is not None and lens.shape[0] < count:
            raise ArgumentError("lens must have count entries")
        if keys is not None and keys.shape[0] < count:
            raise ArgumentError("keys must have count entries")
        if drop is not None and drop.shape[0] < count:
            raise ArgumentError("drop must have count entries")
        if count == 0:
            self.n_out = self.n_up = self.n_runs = self.n_msgs = self.n_hops = self.n_frags = 0
            self._cur_msgs, self._cur_arena, self._cur_ids = self._msgs, self._arenap, self._idp
            return 0
        hops0 = srp_dp_counter(self.dp, SRP_DPC_HOPS)
        with nogil:
            srp_dp_process(self.dp, &buf[0], <size_t>stride,
                           &lens[0] if lens is not None else NULL,
                           &keys[0] if keys is not None else NULL,
                           &drop[0] if drop is not None else NULL, <size_t>count, now,
                           self._outp, self._addrp, <size_t>(self.max_batch * self.fanout),
                           &n_out, self._runp, &n_runs, self._upip, self._upkp, &n_up,
                           self._idp)
            if srp_dl_nkeys(self.dl):
                n_msgs = srp_dl_take(self.dl, &buf[0], <size_t>stride, self._idp, self._upip,
                                     self._upkp, &n_up, SRP_DP_UP_DELIVER, self._msgs,
                                     self._arenap)
            if carry and n_up:
                n_frags = srp_dl_take_fragments(&buf[0], <size_t>stride, self._idp,
                                                self._upip, self._upkp, &n_up,
                                                SRP_DP_UP_DELIVER, self._frag.p, self._fid.p,
                                                <uint32_t *>self._fitem.p)
        self.n_msgs = n_msgs
        self.n_frags = n_frags
        self._cur_msgs, self._cur_arena, self._cur_ids = self._msgs, self._arenap, self._idp
        self.n_hops = <Py_ssize_t>(srp_dp_counter(self.dp, SRP_DPC_HOPS) - hops0)
        self.n_out = n_out
        self.n_up = n_up
        self.n_runs = n_runs
        return n_out

    def up(self, Py_ssize_t j):
        """(index into the batch, kind) of the j-th handed-up datagram; kind is UP_CONTROL,
        UP_DELIVER (a new PUBLISH already cached and forwarded, for a subcluster we hold) or
        UP_VARIANT (forwarded but not cached: the cache holds another copy of that packetId
        whose header differs; open it and keep whichever copy opens)."""
        if not 0 <= j < self.n_up:
            raise IndexError(j)
        return self._upip[j], self._upkp[j]

    def messages(self) -> tuple:
        """The messages of the last batch that C opened and verified, as columns:
        (subs, ids, payloads, authors, previous_ids, clocks, hops): subs[k] indexes the last
        ``set_keys`` table (``subs`` is an int when every message has the same one); ids are
        packetIds (message ids); authors are Ed25519 public keys. Equal authors and previous
        ids of neighbouring messages share one bytes object."""
        cdef Py_ssize_t k, n = self.n_msgs
        cdef srp_dl_msg *m
        cdef const uint8_t *slot
        cdef const uint8_t *last_author = NULL
        cdef const uint8_t *last_prev = NULL
        cdef uint16_t sub0 = self._cur_msgs[0].sub if n else 0
        cdef bint one_sub = True
        cdef list ids = PyList_New(n), payloads = PyList_New(n), authors = PyList_New(n)
        cdef list prevs = PyList_New(n), clocks = PyList_New(n), hops = PyList_New(n)
        author = prev = None
        for k in range(n):
            m = &self._cur_msgs[k]
            slot = self._cur_arena + m.arena_off
            one_sub = one_sub and m.sub == sub0
            _set(ids, k, PyBytes_FromStringAndSize(<char *>self._cur_ids + 32 * m.item, 32))
            _set(payloads, k, PyBytes_FromStringAndSize(<char *>slot + m.payload_off,
                                                        m.payload_len))
            if last_author == NULL or memcmp(last_author, slot + m.author_off, 32) != 0:
                author = PyBytes_FromStringAndSize(<char *>slot + m.author_off, 32)
            last_author = slot + m.author_off
            _set(authors, k, author)
            if last_prev == NULL or memcmp(last_prev, m.previous, 32) != 0:
                prev = PyBytes_FromStringAndSize(<char *>m.previous, 32)
            last_prev = m.previous
            _set(prevs, k, prev)
            _set(clocks, k, m.clock)
            _set(hops, k, m.hops)
        subs = sub0 if one_sub else [self._cur_msgs[k].sub for k in range(n)]
        return subs, ids, payloads, authors, prevs, clocks, hops

    def fragments(self) -> tuple:
        """With ``carry_fragments`` set: the fragments of the last process() call that C
        could not assemble there (UP_DELIVER frames of a message whose other frames are in
        another batch: already cached and forwarded), taken out of the hand-up list, as
        (frames: n_frags x 1158 bytes, ids: their packetIds, items: their batch indexes).
        The views are valid until the next process() call."""
        cdef Py_ssize_t n = self.n_frags
        cdef uint32_t *items = <uint32_t *>self._fitem.p
        return (memoryview(self._frag)[:n * SRP_PACKET_BYTES], memoryview(self._fid)[:32 * n],
                [items[k] for k in range(n)])

    def message_item(self, Py_ssize_t k) -> int:
        """Index into the receive batch of the k-th message of messages()."""
        if not 0 <= k < self.n_msgs:
            raise IndexError(k)
        return self._cur_msgs[k].item

    def deliver_carried(self, const uint8_t[::1] frames not None,
                        const uint8_t[::1] ids not None, Py_ssize_t count) -> list:
        """Assemble, open and verify the whole messages among ``count`` fragment frames a
        caller kept from earlier batches (each already cached and forwarded: the fragments
        process() left in the hand-up list because the rest of their message was in another
        batch). ``frames``: count x 1158 bytes; ``ids``: their packetIds. The messages
        become messages() (message_item: an index into these frames); returns the indexes
        of the frames not taken, in order."""
        cdef size_t n = <size_t>count, n_msgs = 0, i
        if count < 0 or count > self.max_carried:
            raise ArgumentError(f"count must be 0..{self.max_carried}")
        if <size_t>frames.shape[0] < n * SRP_PACKET_BYTES or <size_t>ids.shape[0] < 32 * n:
            raise ArgumentError("frames or ids shorter than count")
        cdef uint32_t *upi = <uint32_t *>self._cup_index.p
        cdef uint8_t *upk = self._cup_kind.p
        cdef uint8_t *cids = self._cids.p
        cdef uint8_t *carena = self._carena.p
        for i in range(n):
            upi[i] = <uint32_t>i
            upk[i] = SRP_DP_UP_DELIVER
        if n:
            memcpy(cids, &ids[0], 32 * n)
            with nogil:
                n_msgs = srp_dl_take_chains(self.dl, &frames[0], SRP_PACKET_BYTES, cids, upi,
                                            upk, &n, SRP_DP_UP_DELIVER, self._cmsgs, carena)
        self.n_msgs = <Py_ssize_t>n_msgs
        self._cur_msgs, self._cur_arena, self._cur_ids = self._cmsgs, carena, cids
        return [upi[i] for i in range(n)]

    def runs(self) -> list:
        """(start, count) of each group of at least RUN_MIN output frames to one next hop, in
        output order from 0; the frames after the last run are smaller groups (one sendmmsg)."""
        return [(self._runp[2 * j], self._runp[2 * j + 1]) for j in range(self.n_runs)]

    def packet_id(self, Py_ssize_t i) -> bytes:
        """packetId of batch item i (valid only for PUBLISH items of the last batch)."""
        if not 0 <= i < self.max_batch:
            raise IndexError(i)
        return self._idp[32 * i:32 * i + 32]

    @property
    def out_frames(self) -> memoryview:
        return memoryview(self._out)[:self.n_out * SRP_PACKET_BYTES]

    @property
    def out_addrs(self) -> memoryview:
        return memoryview(self._addrs)[:self.n_out * SRP_DP_ADDR_BYTES]

    def choose(self, uint64_t exclude_key=0, Py_ssize_t k=3) -> list:
        """Indexes (into the last set_peers table) of up to k weighted next hops."""
        cdef uint32_t picks[16]
        if not 0 <= k <= 16:
            raise ArgumentError("k must be 0..16")
        cdef size_t n = srp_dp_choose(self.dp, exclude_key, <size_t>k, picks)
        return [picks[i] for i in range(n)]

    def counters(self) -> dict:
        cdef uint64_t out[SRP_DPC_COUNT]
        cdef uint64_t dl[SRP_DLC_COUNT]
        srp_dp_counters(self.dp, out)
        srp_dl_counters(self.dl, dl)
        counts = {COUNTER_NAMES[i]: out[i] for i in range(SRP_DPC_COUNT)}
        counts.update({f"deliver.{DELIVER_COUNTER_NAMES[i]}": dl[i] for i in range(SRP_DLC_COUNT)})
        return counts

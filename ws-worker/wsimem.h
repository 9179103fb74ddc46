/* wsimem.h -- libwebsockets' connection objects (struct lws), packed side by side in one region
 * of huge pages per process, instead of scattered over the heap.
 *
 * Why: Debian builds lws 4.1.6 with _DEBUG, which keeps sanity_assert_no_sockfd_traces(): on
 * every close lws reads one field (desc.sockfd) of every connection the process holds. With a
 * million sockets held over ~600 processes that memory is cold, and each read is a cache miss
 * and, with the objects spread over thousands of 4 KiB pages, a TLB miss and a page walk too:
 * +70 to +125 µs per handshake (perf: the scan was 80% of lws's own time). Packed into huge
 * pages, one TLB entry covers ~2,000 connections and the scan's loads overlap freely.
 *
 * How: lws_set_allocator() routes all of lws's allocations through wsimem; the ones lws makes
 * for a new connection ("new server wsi", all of one size) take the lowest free slot of the
 * region (a bitmap), everything else goes to malloc. Lowest first, as the kernel gives the lowest
 * free descriptor: the scan walks connections in descriptor order, and with slots in that order
 * too its loads go up the region at a near-constant stride, which the CPU's prefetchers follow.
 * A free list (last freed first) shuffled that order once the first connections had closed, and
 * the scan's cost per held handshake grew 3x from one cycle of opening and closing to the next
 * (docs/bench-results-many.md). The
 * region is reserved at the first connection (its size is lws's, known only then) for
 * `slots` objects, with MADV_HUGEPAGE (the kernel backs it with 2 MiB pages when it can, 4 KiB
 * ones otherwise); pages are touched only as slots are first used. A connection beyond the
 * slots, or of another size, goes to malloc: nothing is refused here.
 *
 * lws's allocator hook is one process-wide function pointer with no argument of ours, so the
 * region is a single static object: wsimem_install() once per process, before the lws context,
 * after any fork. Not thread-safe (lws and ws-worker are single-threaded). */
#ifndef TOKENAUTH_WSIMEM_H
#define TOKENAUTH_WSIMEM_H

#include <stddef.h>

#define WSIMEM_OK 0
#define WSIMEM_ERR_ARG (-1)  /* slots is 0 or too large */
#define WSIMEM_ERR_BUSY (-2) /* installed before, and connections still live in the region */

/* Routes lws's allocations through wsimem, with room for `slots` connections. Again once the
 * region is empty (a test) starts a new one. */
int wsimem_install(size_t slots);

/* What the region holds now, for tests and the log. */
struct wsimem_stats {
    size_t slot_size;    /* bytes per connection object (0 before the first) */
    size_t slots;        /* capacity */
    size_t in_use;       /* slots holding a connection */
    size_t overflowed;   /* connection objects that went to malloc (region full or unmapped) */
    int is_huge_advised; /* MADV_HUGEPAGE was accepted */
};
void wsimem_stats(struct wsimem_stats *out);

/* The allocator lws calls (exposed for the unit test): realloc semantics, size 0 frees. */
void *wsimem_realloc(void *ptr, size_t size, const char *reason);

#endif

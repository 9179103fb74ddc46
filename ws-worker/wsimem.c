/* wsimem.c -- lws's connection objects in one region of huge pages (see wsimem.h). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */
#include "wsimem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libwebsockets.h>

/* Under AddressSanitizer a free slot is poisoned, so that a use of a closed connection's object
 * is still reported as it would be on the heap. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLOT_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLOT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLOT_POISON(p, n) ((void)(p), (void)(n))
#define SLOT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HUGE_PAGE ((size_t)2 << 20) /* x86-64's THP size; elsewhere madvise is merely a hint */
#define SLOT_ALIGN 64               /* a cache line: no two connections share one */
#define SLOTS_MAX ((size_t)1 << 24)
/* The reason lws 4.1 gives when it allocates a connection (core-net/adopt.c,
 * lws_create_new_server_wsi). Another lws that words it differently only loses the packing. */
#define CONNECTION_REASON "new server wsi"

struct region {
    unsigned char *base; /* NULL until the first connection, or when mmap failed */
    size_t len;
    size_t slot_size;
    size_t slots;
    size_t in_use;
    size_t overflowed;
    int is_huge_advised;
    int is_unmappable;  /* mmap failed once: malloc from then on */
    uint64_t *used;     /* a bit per slot, set while it holds a connection */
    size_t n_words;     /* of used */
    size_t lowest_free; /* no word before this one has a free slot */
};

/* The one region of this process: lws's hook takes no argument of ours (wsimem.h). */
static struct region region;

static int owns(const void *ptr) {
    const unsigned char *p = ptr;
    return region.base && p >= region.base && p < region.base + region.len;
}

/* Reserves the region for slots of slot_size, aligned to a huge page so that the kernel can
 * back it with them. 0, or -1 (the caller falls back to malloc). */
static int reserve(size_t slot_size) {
    size_t len = (region.slots * slot_size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    region.n_words = (region.slots + 63) / 64;
    region.used = calloc(region.n_words, sizeof *region.used);
    if (!region.used)
        return -1;
    unsigned char *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        free(region.used);
        region.used = NULL;
        return -1;
    }
    uintptr_t aligned = ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    size_t head = aligned - (uintptr_t)raw;
    if (head)
        munmap(raw, head);
    munmap((unsigned char *)aligned + len, HUGE_PAGE - head);
    region.base = (unsigned char *)aligned;
    region.len = len;
    region.slot_size = slot_size;
    region.is_huge_advised = madvise(region.base, len, MADV_HUGEPAGE) == 0;
    return 0;
}

/* The lowest free slot's index, or region.slots when all are taken. The lowest, as the kernel
 * gives the lowest free descriptor: a connection's slot then follows its descriptor, whose order
 * lws's close-time scan walks (wsimem.h), whatever connections came and went before. */
static size_t lowest_free_slot(void) {
    size_t w = region.lowest_free;
    while (w < region.n_words && region.used[w] == UINT64_MAX)
        w++;
    region.lowest_free = w;
    if (w == region.n_words)
        return region.slots;
    size_t i = w * 64 + (size_t)__builtin_ctzll(~region.used[w]);
    return i < region.slots ? i : region.slots;
}

/* A slot for a connection object of size bytes, or NULL (then malloc serves it). */
static void *slot_take(size_t size) {
    size_t slot_size = (size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    if (!region.base && !region.is_unmappable && reserve(slot_size) != 0)
        region.is_unmappable = 1;
    if (!region.base || slot_size != region.slot_size)
        return NULL;
    size_t i = lowest_free_slot();
    if (i == region.slots)
        return NULL;
    region.used[i / 64] |= (uint64_t)1 << (i % 64);
    region.in_use++;
    unsigned char *slot = region.base + i * region.slot_size;
    SLOT_UNPOISON(slot, region.slot_size);
    return slot;
}

static void slot_give_back(void *ptr) {
    size_t i = (size_t)((unsigned char *)ptr - region.base) / region.slot_size;
    region.used[i / 64] &= ~((uint64_t)1 << (i % 64));
    if (i / 64 < region.lowest_free)
        region.lowest_free = i / 64;
    region.in_use--;
    SLOT_POISON(ptr, region.slot_size);
}

/* realloc() of a pointer the region owns: shrinking keeps the slot; growing moves to malloc. */
static void *slot_resize(void *ptr, size_t size) {
    if (size <= region.slot_size)
        return ptr;
    void *moved = malloc(size);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, region.slot_size);
    slot_give_back(ptr);
    return moved;
}

void *wsimem_realloc(void *ptr, size_t size, const char *reason) {
    if (ptr && owns(ptr)) {
        if (size == 0) {
            slot_give_back(ptr);
            return NULL;
        }
        return slot_resize(ptr, size);
    }
    if (!ptr && size && region.slots && reason && strcmp(reason, CONNECTION_REASON) == 0) {
        void *slot = slot_take(size);
        if (slot)
            return slot;
        region.overflowed++;
    }
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

int wsimem_install(size_t slots) {
    if (slots == 0 || slots > SLOTS_MAX)
        return WSIMEM_ERR_ARG;
    if (region.in_use)
        return WSIMEM_ERR_BUSY;
    if (region.base)
        munmap(region.base, region.len);
    free(region.used);
    memset(&region, 0, sizeof region);
    region.slots = slots;
    lws_set_allocator(wsimem_realloc);
    return WSIMEM_OK;
}

void wsimem_stats(struct wsimem_stats *out) {
    out->slot_size = region.slot_size;
    out->slots = region.slots;
    out->in_use = region.in_use;
    out->overflowed = region.overflowed;
    out->is_huge_advised = region.is_huge_advised;
}

/* Crossbook algo runtime for C: the action buffer, algo_alloc and the memory builtins a
 * freestanding compiler may call. Linked into every C algo by `crossbook algo build`. */
#include "crossbook_algo.h"

WasmActions cb_actions;
const OnlineFeatures cb_no_features = {.version = 1};

extern unsigned char __heap_base;
static uint32_t cb__heap_top;

/* Bump allocator, 8-byte aligned, growing memory as needed; 0 when memory cannot grow. */
void *cb_alloc(uint32_t size) {
    if (!cb__heap_top) cb__heap_top = ((uint32_t)(uintptr_t)&__heap_base + 7u) & ~7u;
    uint32_t p = cb__heap_top;
    uint64_t end = ((uint64_t)p + size + 7u) & ~(uint64_t)7u;
    if (end > 0xFFFFFFFFull) return 0;
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        uint64_t pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) return 0;
    }
    cb__heap_top = (uint32_t)end;
    return (void *)(uintptr_t)p;
}

CB_EXPORT("algo_alloc") uint32_t cb__algo_alloc(uint32_t size) { return (uint32_t)(uintptr_t)cb_alloc(size); }

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        d += n;
        s += n;
        while (n--) *--d = *--s;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

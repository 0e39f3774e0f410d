/* Spins forever in on_book: the fuel budget stops it. */
#include "crossbook_algo.h"
static volatile uint64_t spins;
static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)b; (void)s; (void)f; (void)out;
    for (;;) spins++;
}
CB_ON_BOOK(on_book)

/* The message the quoter sends the hedger after each fill (16 bytes, well under 256). */
#ifndef HEDGE_MSG_H
#define HEDGE_MSG_H
#include "crossbook_algo.h"
typedef struct {
    int64_t qty_1e8;  /* signed: what the quoter bought (+) or sold (-) */
    uint64_t px_1e9;  /* at this price */
} HedgeMsg;
_Static_assert(sizeof(HedgeMsg) == 16, "HedgeMsg is 16 bytes");
#endif

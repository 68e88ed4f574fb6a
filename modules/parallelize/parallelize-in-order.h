/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * in-order(): messages pass it in the order they reached the nearest
 * parallelize() before it.  At init it asks that parallelize() to give every
 * message a ticket; at run time it hands what reaches it to the reorder stage
 * of the thread's order context (see parallelize-order.h).  Without a context
 * (no ordered parallelize() before it, or a message the stage itself passes
 * on) it lets messages through.
 */
#ifndef PARALLELIZE_IN_ORDER_H_INCLUDED
#define PARALLELIZE_IN_ORDER_H_INCLUDED

#include "logpipe.h"

#define IN_ORDER_NAME "in-order"

LogPipe *in_order_new(GlobalConfig *cfg);
void in_order_set_location(LogPipe *s, const gchar *location);

#endif

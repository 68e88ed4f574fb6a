/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Config-time warning: what a filter or parser after parallelize() decides
 * happens on a worker thread and cannot reach the part of the path before it,
 * so an enclosing flags(final) or if/else, or a flags(fallback) path, routes
 * every message that reached parallelize() as matched.
 */
#ifndef PARALLELIZE_ROUTING_CHECK_H_INCLUDED
#define PARALLELIZE_ROUTING_CHECK_H_INCLUDED

#include "logpipe.h"

void parallelize_check_routing(LogPipe *pipe, const gchar *location);

#endif

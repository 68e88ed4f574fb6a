/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-parser.h"
#include "parallelize-grammar.h"

extern int parallelize_debug;

int parallelize_parse(CfgLexer *lexer, LogPipe **instance, gpointer arg);

static CfgLexerKeyword parallelize_keywords[] = {
  {.kw_name = "parallelize", .kw_token = KW_PARALLELIZE},
  /* the same element, by the name that is no keyword of syslog-ng 4.x (see parallelize-plugin.c) */
  {.kw_name = "worker_pool", .kw_token = KW_PARALLELIZE},
  {.kw_name = "workers", .kw_token = KW_WORKERS},
  /* the spelling of older releases */
  {.kw_name = "partitions", .kw_token = KW_WORKERS},
  /* workers(auto): ours, since 4.x's main table makes a bare auto its own KW_AUTO */
  {.kw_name = "auto", .kw_token = KW_WORKERS_AUTO},
  {.kw_name = "partition_key", .kw_token = KW_PARTITION_KEY},
  /* the spelling of newer syslog-ng releases */
  {.kw_name = "worker_partition_key", .kw_token = KW_PARTITION_KEY},
  {.kw_name = "batch_size", .kw_token = KW_BATCH_SIZE},
  /* AxoSyslog's spelling: the most messages a worker passes on in one go */
  {.kw_name = "log_fetch_limit", .kw_token = KW_LOG_FETCH_LIMIT},
  /* what counters and log lines call the instance instead of its location */
  {.kw_name = "name", .kw_token = KW_NAME},
  /* set by the log {} generator: where parallelize() stands in the configuration */
  {.kw_name = "__parallelize_location", .kw_token = KW_LOCATION},
  /* parallelize()'s partner, restoring the order (no keyword of syslog-ng 3.38 or 4.8) */
  {.kw_name = "in_order", .kw_token = KW_IN_ORDER},
  {NULL}};

CfgParser parallelize_parser = {
#if SYSLOG_NG_ENABLE_DEBUG
  .debug_flag = &parallelize_debug,
#endif
  .name = "parallelize",
  .keywords = parallelize_keywords,
  .parse = (gint(*)(CfgLexer *, gpointer *, gpointer)) parallelize_parse,
  .cleanup = (void (*)(gpointer)) log_pipe_unref,
};

CFG_PARSER_IMPLEMENT_LEXER_BINDING(parallelize_, PARALLELIZE_, LogPipe **)

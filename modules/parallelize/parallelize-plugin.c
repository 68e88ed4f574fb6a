/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "cfg-parser.h"
#include "plugin.h"
#include "plugin-types.h"

#include "parallelize.h"
#include "parallelize-generator.h"
#include "parallelize-in-order.h"
#include "parallelize-order.h"
#include "parallelize-parser.h"
#include "parallelize-thread-ids.h"

/* in-order() restores, after parallelize(), the order messages reached it in:
 * written in log {} (a generator, as parallelize()) or in parser {}.
 *
 * Two names for one element.  PARALLELIZE_NAME is what the module has always been
 * called, and works on syslog-ng 3.x; 4.x made it a core keyword (its own built-in
 * parallelize()), which its lexer returns before any plugin is consulted.
 * PARALLELIZE_PORTABLE_NAME is a keyword of no syslog-ng release, so one
 * configuration runs on both.
 *
 * The parser entries are registered as they are; the log {} entries only advertise
 * the keywords so that autoloading finds this module, and are registered as
 * generators at init. */
static Plugin parallelize_plugins[] = {
  {
    .type = LL_CONTEXT_PARSER,
    .name = PARALLELIZE_NAME,
    .parser = &parallelize_parser,
  },
  {
    .type = LL_CONTEXT_PARSER,
    .name = PARALLELIZE_PORTABLE_NAME,
    .parser = &parallelize_parser,
  },
  {
    .type = LL_CONTEXT_PARSER,
    .name = IN_ORDER_NAME,
    .parser = &parallelize_parser,
  },
  {
    .type = LL_CONTEXT_LOG | LL_CONTEXT_FLAG_GENERATOR,
    .name = PARALLELIZE_NAME,
  },
  {
    .type = LL_CONTEXT_LOG | LL_CONTEXT_FLAG_GENERATOR,
    .name = PARALLELIZE_PORTABLE_NAME,
  },
  {
    .type = LL_CONTEXT_LOG | LL_CONTEXT_FLAG_GENERATOR,
    .name = IN_ORDER_NAME,
  },
};

gboolean
parallelize_module_init(PluginContext *context, CfgArgs *args)
{
  parallelize_thread_ids_module_loaded(context);
  parallelize_order_register_ticket_source(&parallelize_ticket_source);
  /* the parser {} entries (the first three) */
  plugin_register(context, parallelize_plugins, 3);
  parallelize_generator_register(context, PARALLELIZE_NAME);
  parallelize_generator_register(context, PARALLELIZE_PORTABLE_NAME);
  in_order_generator_register(context);
  return TRUE;
}

const ModuleInfo module_info = {
  .canonical_name = "parallelize",
  .version = PACKAGE_VERSION,
  .description = "parallelize(): spreads a log path over worker threads (syslog-ng-mod-parallelize)",
  .core_revision = SYSLOG_NG_SOURCE_REVISION,
  .plugins = parallelize_plugins,
  .plugins_len = G_N_ELEMENTS(parallelize_plugins),
};

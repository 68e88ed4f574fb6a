/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "cfg-parser.h"
#include "plugin.h"
#include "plugin-types.h"

#include "parallelize-generator.h"
#include "parallelize-parser.h"
#include "parallelize-thread-ids.h"

/* The first entry is registered as is; the second only advertises the log {}
 * keyword so that autoloading finds this module, and is registered as a
 * generator at init. */
static Plugin parallelize_plugins[] = {
  {
    .type = LL_CONTEXT_PARSER,
    .name = "parallelize",
    .parser = &parallelize_parser,
  },
  {
    .type = LL_CONTEXT_LOG | LL_CONTEXT_FLAG_GENERATOR,
    .name = "parallelize",
  },
};

gboolean
parallelize_module_init(PluginContext *context, CfgArgs *args)
{
  parallelize_thread_ids_module_loaded(context);
  plugin_register(context, parallelize_plugins, 1);
  parallelize_generator_register(context);
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

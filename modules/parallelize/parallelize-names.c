/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-names.h"

#include "module-config.h"

#include <string.h>

#define NAMES_MODULE_CONFIG_KEY "parallelize-names"

/* kept in the configuration, freed with it: a failed reload leaves no names behind */
typedef struct _ParallelizeNames
{
  ModuleConfig super;
  GHashTable *locations; /* name -> where its instance stands */
} ParallelizeNames;

static void
_free(ModuleConfig *s)
{
  ParallelizeNames *self = (ParallelizeNames *) s;

  g_hash_table_unref(self->locations);
  module_config_free_method(s);
}

static ParallelizeNames *
_names_of(GlobalConfig *cfg)
{
  ParallelizeNames *self = g_hash_table_lookup(cfg->module_config, NAMES_MODULE_CONFIG_KEY);
  if (!self)
    {
      self = g_new0(ParallelizeNames, 1);
      self->super.free_fn = _free;
      self->locations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert(cfg->module_config, g_strdup(NAMES_MODULE_CONFIG_KEY), self);
    }
  return self;
}

gboolean
parallelize_name_is_valid(const gchar *name)
{
  static const gchar allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
  return name[0] && strspn(name, allowed) == strlen(name);
}

gboolean
parallelize_names_claim(GlobalConfig *cfg, const gchar *name, const gchar *location, const gchar **taken_by)
{
  ParallelizeNames *self = _names_of(cfg);
  const gchar *first = g_hash_table_lookup(self->locations, name);

  if (first)
    {
      *taken_by = first;
      return FALSE;
    }
  g_hash_table_insert(self->locations, g_strdup(name), g_strdup(location));
  return TRUE;
}

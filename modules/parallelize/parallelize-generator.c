/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-generator.h"
#include "parallelize-parser.h"

#include "cfg-args.h"
#include "cfg-block-generator.h"
#include "cfg-lexer.h"
#include "messages.h"
#include "plugin-types.h"

#include <string.h>

/* option names as CfgArgs normalises them; pairs name the same option */
static const gchar *known_options[] = {
  "workers", "partitions", "partition_key", "worker_partition_key", "batch_size", "log_fetch_limit", "name", NULL};

static const gchar *synonyms[][2] = {
  {"workers", "partitions"},
  {"partition_key", "worker_partition_key"},
};

typedef struct _GenerateState
{
  GString *result;
  const gchar *reference;
  gboolean ok;
} GenerateState;

static gchar *
_display_name(const gchar *normalized)
{
  gchar *name = g_strdup(normalized);
  g_strdelimit(name, "_", '-');
  return name;
}

static void
_append_quoted(GString *out, const gchar *text)
{
  g_string_append_c(out, '"');
  for (const gchar *p = text; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c(out, '\\');
      g_string_append_c(out, *p);
    }
  g_string_append_c(out, '"');
}

static gboolean
_is_quoted(const gchar *value)
{
  return value[0] == '"' || value[0] == '\'';
}

static void
_emit_option(gpointer key, gpointer value, gpointer user_data)
{
  const gchar *name = key;
  const gchar *text = value;
  GenerateState *state = user_data;
  gchar *display = _display_name(name);

  if (!g_strv_contains(known_options, name))
    {
      msg_error("parallelize(): unknown option",
                evt_tag_str("option", display),
                evt_tag_str("known", "workers(), partition-key(), batch-size(), log-fetch-limit(), name()"),
                evt_tag_str("location", state->reference));
      state->ok = FALSE;
    }
  else if (!text)
    {
      msg_error("parallelize(): option needs a value",
                evt_tag_str("option", display),
                evt_tag_str("location", state->reference));
      state->ok = FALSE;
    }
  else
    {
      g_string_append_printf(state->result, " %s(", display);
      /* a bare template ($HOST) or name (my-pool) needs quoting to survive the lexer; numbers and strings
       * pass as written */
      if ((strstr(name, "partition_key") || strcmp(name, "name") == 0) && !_is_quoted(text))
        _append_quoted(state->result, text);
      else
        g_string_append(state->result, text);
      g_string_append_c(state->result, ')');
    }
  g_free(display);
}

static gboolean
_check_synonyms(CfgArgs *args, const gchar *reference)
{
  for (gsize i = 0; i < G_N_ELEMENTS(synonyms); i++)
    {
      if (cfg_args_contains(args, synonyms[i][0]) && cfg_args_contains(args, synonyms[i][1]))
        {
          gchar *first = _display_name(synonyms[i][0]);
          gchar *second = _display_name(synonyms[i][1]);
          msg_error("parallelize(): two spellings of the same option, keep one",
                    evt_tag_str("option", first),
                    evt_tag_str("same-as", second),
                    evt_tag_str("location", reference));
          g_free(first);
          g_free(second);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
_generate(CfgBlockGenerator *s, GlobalConfig *cfg, gpointer args, GString *result, const gchar *reference)
{
  GenerateState state = {.result = result, .reference = reference, .ok = TRUE};

  /* the name every syslog-ng release leaves to plugins */
  g_string_append(result, "parser { " PARALLELIZE_PORTABLE_NAME "(__parallelize_location(");
  _append_quoted(result, reference);
  g_string_append_c(result, ')');
  if (args)
    {
      if (!_check_synonyms(args, reference))
        return FALSE;
      cfg_args_foreach(args, _emit_option, &state);
    }
  g_string_append(result, "); };");
  return state.ok;
}

void
parallelize_generator_register(PluginContext *context, const gchar *name)
{
  CfgBlockGenerator *self = g_new0(CfgBlockGenerator, 1);

  cfg_block_generator_init_instance(self, LL_CONTEXT_LOG, name);
  /* backticks were substituted already when the arguments were read */
  self->suppress_backticks = TRUE;
  self->generate = _generate;
  cfg_lexer_register_generator_plugin(context, self);
}

static void
_count_option(gpointer key, gpointer value, gpointer user_data)
{
  (*(gint *) user_data)++;
}

static gboolean
_generate_in_order(CfgBlockGenerator *s, GlobalConfig *cfg, gpointer args, GString *result, const gchar *reference)
{
  gint given = 0;
  if (args)
    cfg_args_foreach(args, _count_option, &given);
  if (given)
    {
      msg_error("in-order(): takes no options", evt_tag_str("location", reference));
      return FALSE;
    }
  g_string_append(result, "parser { in-order(__parallelize_location(");
  _append_quoted(result, reference);
  g_string_append(result, ")); };");
  return TRUE;
}

void
in_order_generator_register(PluginContext *context)
{
  CfgBlockGenerator *self = g_new0(CfgBlockGenerator, 1);

  cfg_block_generator_init_instance(self, LL_CONTEXT_LOG, "in-order");
  self->suppress_backticks = TRUE;
  self->generate = _generate_in_order;
  cfg_lexer_register_generator_plugin(context, self);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-routing-check.h"

#include "cfg-tree.h"
#include "messages.h"

/* a filter, a parser (they can drop), or a reference to one, anywhere below node;
 * another pipe of the same kind as element (a second parallelize()) drops nothing */
static LogExprNode *
_find_dropping_element(LogExprNode *node, LogPipe *element)
{
  for (; node; node = node->next)
    {
      if (node->content == ENC_FILTER)
        return node;
      if (node->content == ENC_PARSER && node->layout == ENL_SINGLE && node->object &&
          ((LogPipe *) node->object)->queue != element->queue)
        return node;
      if (node->content == ENC_PARSER && node->layout == ENL_REFERENCE)
        return node;
      LogExprNode *found = _find_dropping_element(node->children, element);
      if (found)
        return found;
    }
  return NULL;
}

static gboolean
_config_has_fallback_path(GlobalConfig *cfg)
{
  for (guint i = 0; i < cfg->tree.rules->len; i++)
    {
      LogExprNode *rule = g_ptr_array_index(cfg->tree.rules, i);
      if (rule->flags & LC_FALLBACK)
        return TRUE;
    }
  return FALSE;
}

void
parallelize_check_routing(LogPipe *pipe, const gchar *location)
{
  LogExprNode *dropping = NULL;
  gboolean final = FALSE;

  /* the rest of the path after parallelize(): the later siblings at every level up */
  for (LogExprNode *node = pipe->expr_node; node; node = node->parent)
    {
      if (!dropping)
        dropping = _find_dropping_element(node->next, pipe);
      if (node->flags & LC_FINAL)
        final = TRUE;
    }
  if (!dropping)
    return;

  const gchar *routing = final                                  ? "flags(final) or if/else"
                         : _config_has_fallback_path(pipe->cfg) ? "flags(fallback)"
                                                                : NULL;
  if (!routing)
    return;

  gchar buf[256];
  msg_warning("parallelize(): a filter or parser after parallelize() cannot tell the path before it that it "
              "dropped a message, so every message that reaches parallelize() counts as matched for this routing",
              evt_tag_str("location", location),
              evt_tag_str("routing", routing),
              evt_tag_str("element", log_expr_node_format_location(dropping, buf, sizeof(buf))),
              evt_tag_str("hint", "move the filter before parallelize(), or out of the final/if/else/fallback path"));
}

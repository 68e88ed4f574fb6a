/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "parallelize-cpus.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gint
_affinity_cpus(void)
{
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    return MAX(CPU_COUNT(&set), 1);
  return (gint) MAX(sysconf(_SC_NPROCESSORS_ONLN), 1);
}

static gchar *
_read_line(const gchar *dir, const gchar *name)
{
  gchar *path = g_build_filename(dir, name, NULL);
  gchar *contents = NULL;
  g_file_get_contents(path, &contents, NULL, NULL);
  g_free(path);
  if (contents)
    g_strstrip(contents);
  return contents;
}

/* CPUs a cgroup directory's quota allows, or +inf without one */
static gdouble
_quota_of(const gchar *dir, gboolean v2)
{
  gdouble cpus = INFINITY;
  if (v2)
    {
      /* "max 100000" or "QUOTA PERIOD" */
      gchar *line = _read_line(dir, "cpu.max");
      if (line)
        {
          gchar *end;
          gdouble quota = g_ascii_strtod(line, &end);
          gdouble period = end != line ? g_ascii_strtod(end, NULL) : 0;
          if (end != line && quota > 0 && period > 0)
            cpus = quota / period;
        }
      g_free(line);
      return cpus;
    }
  gchar *quota = _read_line(dir, "cpu.cfs_quota_us");
  gchar *period = _read_line(dir, "cpu.cfs_period_us");
  if (quota && period && atof(quota) > 0 && atof(period) > 0)
    cpus = atof(quota) / atof(period);
  g_free(quota);
  g_free(period);
  return cpus;
}

/* the smallest quota from the cgroup's directory up to the mount point */
static gdouble
_quota_along(const gchar *mount_point, const gchar *mount_root, const gchar *cgroup_path, gboolean v2)
{
  /* the path is relative to the hierarchy's root; the mount shows it from mount_root down */
  gsize root_len = strcmp(mount_root, "/") == 0 ? 0 : strlen(mount_root);
  if (root_len && strncmp(cgroup_path, mount_root, root_len) != 0)
    return INFINITY;
  gchar *dir = g_build_filename(mount_point, cgroup_path + root_len, NULL);
  gdouble cpus = INFINITY;
  while (g_str_has_prefix(dir, mount_point))
    {
      cpus = MIN(cpus, _quota_of(dir, v2));
      if (strcmp(dir, mount_point) == 0)
        break;
      gchar *parent = g_path_get_dirname(dir);
      g_free(dir);
      dir = parent;
    }
  g_free(dir);
  return cpus;
}

/* where this process sits in the hierarchy: v2 ("0::PATH") or v1's with the cpu controller */
static gchar *
_cgroup_path(gboolean v2)
{
  gchar *contents = NULL;
  if (!g_file_get_contents("/proc/self/cgroup", &contents, NULL, NULL))
    return NULL;
  gchar *found = NULL;
  gchar **lines = g_strsplit(contents, "\n", -1);
  for (gchar **line = lines; *line && !found; line++)
    {
      gchar **fields = g_strsplit(*line, ":", 3);
      if (g_strv_length(fields) == 3)
        {
          gchar **controllers = g_strsplit(fields[1], ",", -1);
          gboolean match = v2 ? strcmp(fields[0], "0") == 0 && !fields[1][0]
                              : g_strv_contains((const gchar *const *) controllers, "cpu");
          if (match)
            found = g_strdup(fields[2]);
          g_strfreev(controllers);
        }
      g_strfreev(fields);
    }
  g_strfreev(lines);
  g_free(contents);
  return found;
}

static gdouble
_cgroup_cpus(void)
{
  gchar *contents = NULL;
  if (!g_file_get_contents("/proc/self/mountinfo", &contents, NULL, NULL))
    return INFINITY;
  gdouble cpus = INFINITY;
  gchar **lines = g_strsplit(contents, "\n", -1);
  for (gchar **line = lines; *line; line++)
    {
      /* ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS */
      gchar **fields = g_strsplit(*line, " ", -1);
      guint n = g_strv_length(fields);
      guint dash = 6;
      while (dash < n && strcmp(fields[dash], "-") != 0)
        dash++;
      if (dash + 3 < n)
        {
          const gchar *fstype = fields[dash + 1];
          const gchar *super_options = fields[dash + 3];
          gchar **options = g_strsplit(super_options, ",", -1);
          gboolean v2 = strcmp(fstype, "cgroup2") == 0;
          gboolean v1_cpu = strcmp(fstype, "cgroup") == 0 && g_strv_contains((const gchar *const *) options, "cpu");
          if (v2 || v1_cpu)
            {
              gchar *path = _cgroup_path(v2);
              if (path)
                cpus = MIN(cpus, _quota_along(fields[4], fields[3], path, v2));
              g_free(path);
            }
          g_strfreev(options);
        }
      g_strfreev(fields);
    }
  g_strfreev(lines);
  g_free(contents);
  return cpus;
}

gint
parallelize_usable_cpus(void)
{
  gint cpus = _affinity_cpus();
  gdouble quota = _cgroup_cpus();
  if (quota < cpus)
    {
      /* 1.5 CPUs of quota: two threads can use it */
      gint whole = (gint) quota;
      cpus = MAX(quota > whole ? whole + 1 : whole, 1);
    }
  return cpus;
}

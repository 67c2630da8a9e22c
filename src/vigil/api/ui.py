"""A minimal server-rendered page: profiles and recent alerts, every value HTML-escaped."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

from vigil.detect.profiles import Profile

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_HOME = _env.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vigil</title>
<meta http-equiv="refresh" content="5">
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.sev-critical,.sev-high{color:#b00020;font-weight:bold}.sev-medium{color:#b36b00}
code{white-space:pre-wrap;word-break:break-all}
</style></head><body>
<h1>vigil</h1>
<h2>Profiles ({{ profiles|length }})</h2>
<table><tr><th>Workload</th><th>State</th><th>Executables</th><th>Destinations</th></tr>
{% for p in profiles %}<tr><td>{{ p.key }}</td>
<td>{{ p.state }} (v{{ p.version }}{% if p.partial %}, partial{% endif %}
{%- if p.at_cap %}, at cap{% endif %})</td>
<td>{{ p.executables|sort|join(", ")|truncate(300) }}</td>
<td>{{ p.destinations|sort|join(", ")|truncate(300) }}</td></tr>
{% else %}<tr><td colspan="4">No workload seen yet.</td></tr>{% endfor %}
</table>
<h2>Recent alerts</h2>
<table><tr><th>Time</th><th>Severity</th><th>Container</th><th>Message</th><th>Command</th>
<th>Response</th></tr>
{% for a in alerts %}<tr><td>{{ a.time }}</td>
<td class="sev-{{ a.severity }}">{{ a.severity }}</td><td>{{ a.container.id }}</td>
<td>{{ a.message|truncate(300) }}</td><td><code>{{ a.process.cmdline|truncate(200) }}</code></td>
<td>{% for r in a.response.actions %}{{ r.action }}: {{ r.outcome }} {% endfor %}</td></tr>
{% else %}<tr><td colspan="6">No alerts.</td></tr>{% endfor %}
</table></body></html>
"""
)


def render_home(profiles: list[Profile], alerts: list[dict[str, Any]]) -> str:
    return _HOME.render(profiles=profiles, alerts=alerts)

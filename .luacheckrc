-- luacheck configuration (make lint: luacheck lua bin/imei tests/spec bench policies)
std = "lua54"
max_line_length = 120
codes = true

-- busted specs: describe/it/assert/… are globals there
files["tests/spec"] = { std = "+busted" }

-- policy scripts run in the policy sandbox, which provides these (docs/sandbox.md)
files["policies"] = { read_globals = { "policy", "lists", "sightings" } }
files["bench/dirbs_core_policy.lua"] = { read_globals = { "policy", "lists", "sightings" } }

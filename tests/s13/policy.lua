-- tests/s13/policy.lua — the policy of the S13 tests: one condition per answer the EIR
-- gives, so each ECA can be asked for by its IMEI (tests/s13/run).
local P = policy.new { name = "s13test", version = "1", description = "every S13 answer on demand" }

P:condition { name = "not_an_imei", status = "UNKNOWN", reason = "a 3GPP2 MEID or ESN",
  when = function(d) return d.parsed and not d.imei_kind end }

P:condition { name = "stolen", status = "BLACKLISTED", reason = "on the stolen list",
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }

P:condition { name = "monitored", status = "GREYLISTED", reason = "on the monitoring list",
  when = function(d) return d.key ~= nil and lists.monitoring:has(d.key) end }

-- User-Name reaches the policy as r.imsi
P:condition { name = "watched_imsi", status = "GREYLISTED", reason = "a watched subscriber",
  when = function(_, r) return r.imsi == "001019999999999" end }

-- a policy that fails on one device: the EIR must answer 5012, not a verdict
P:condition { name = "broken", status = "BLACKLISTED", reason = "never given",
  when = function(d) if d.key == "86000000000000" then error("deliberate failure") end return false end }

P:example { pei = "490154203237518", expect = "WHITELISTED" }
P:example { pei = "352099001761481", lists = { stolen = { "35209900176148" } }, expect = "BLACKLISTED",
            reasons = { "stolen" } }
P:example { pei = "A10000009296F2", expect = "UNKNOWN", reasons = { "not_an_imei" } }

return P

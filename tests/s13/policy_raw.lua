-- tests/s13/policy_raw.lua — a raw check (P:check is one condition): when it raises, the
-- policy fails as a whole and the EIR answers 5012 (tests/s13/run).
return {
  name = "s13raw", version = "1",
  check = function(d)
    if d.key == "86000000000000" then error("deliberate failure") end
    if d.key ~= nil and lists.stolen:has(d.key) then return "BLACKLISTED" end
    return "WHITELISTED"
  end,
}

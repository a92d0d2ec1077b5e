-- The policy fuzzer, short (tests/fuzz/policy_fuzz.lua; `make fuzz` runs it long): every
-- snippet of the adversarial corpus (tests/fuzz/policy_corpus/) at check time and at load
-- time, then seeded generated snippets. Each run must end (loose wall-clock bounds that
-- only a run never cut fails: 5 s for a check whose limit is 50 ms of CPU, 10 s for a load)
-- and the next check must find the stolen device BLACKLISTED. Loads here have a 250 ms
-- limit, to keep the suite short; the mechanism is the one of the default 2 s.
local fuzz = dofile("tests/fuzz/policy_fuzz.lua")
local LIMITS = { load_deadline_ms = 250 }

describe("policy fuzzer", function()
  for _, c in ipairs(fuzz.corpus()) do
    it("contains " .. c.name .. " at check and load time", function()
      local problems, runs = fuzz.run { corpus = { [c.name] = true }, limits = LIMITS }
      assert.equal(2, runs)
      assert.same({}, problems)
    end)
  end

  it("contains 60 generated snippets (seed 20261205)", function()
    local problems, runs = fuzz.run { generated = 60, load_every = 10, seed = 20261205, limits = LIMITS }
    assert.equal(66, runs)
    assert.same({}, problems)
  end)
end)

--- imei.policy.duplicates — cloned-IMEI conditions for the policy library (docs/policies.md, docs/sightings.md),
-- after DIRBS's duplicate_threshold, duplicate_daily_avg, transient_imei and its
-- IMEI–IMSI pairing. Each builder returns a condition spec to pass to P:condition, with
-- `when`, `unless` and `since` filled in; any other condition field may be added:
--
--   P:condition(policy.duplicate_threshold { imsis = 10, days = 120, grace_days = 30 })
--   P:condition(policy.duplicate_daily_avg { average = 4, days = 30, min_days = 5 })
--   P:condition(policy.transient_imei { msisdns = 5, days = 7, blocking = false })
--
-- The builders read the policy's own `sightings` and `lists` (bound by the runtime).

return function(views)
  local sightings, lists = views.sightings, views.lists
  local builders = {}

  --- keeps_service(d, r): DIRBS pairing — the subscriber paired with the device (the
  -- pairing list, or a pairing in the store) keeps service; a device paired with nobody
  -- is kept by the first subscriber seen with it; the others are notified, then blocked.
  function builders.keeps_service(d, r)
    if r.imsi == nil or d.key == nil then return false end
    if lists.pairing:has(d.key, r.imsi) or sightings.is_paired(d.key, r.imsi) then return true end
    -- a device paired with someone else: the first one seen has no claim
    if lists.pairing:has(d.key) or sightings.paired_with_anyone(d.key) then return false end
    return sightings.first_imsi(d.key) == r.imsi
  end

  local function spec_from(opts, defaults)
    if type(opts) ~= "table" then error("expects a table of options", 3) end
    local spec = {}
    for k, v in pairs(defaults) do spec[k] = v end
    for k, v in pairs(opts) do spec[k] = v end
    return spec
  end

  local function need(opts, field, what)
    local v = opts[field]
    if type(v) ~= "number" or v <= 0 then
      error(("%s: '%s' must be a positive number"):format(what, field), 3)
    end
    return v
  end

  local function strip(spec, fields)
    for _, f in ipairs(fields) do spec[f] = nil end
    return spec
  end

  --- ≥ `imsis` distinct IMSIs within `days`. The grace period counts from the moment
  -- the threshold was crossed (the first sighting of the imsis-th IMSI).
  function builders.duplicate_threshold(opts)
    local imsis = need(opts, "imsis", "duplicate_threshold")
    local days = need(opts, "days", "duplicate_threshold")
    local spec = spec_from(opts, {
      name = "duplicate_threshold", status = "BLACKLISTED",
      reason = ("used with %d or more SIMs within %d days (cloned IMEI)"):format(imsis, days),
      unless = builders.keeps_service,
    })
    spec.when = function(d) return d.key ~= nil and sightings.imsis(d.key, days) >= imsis end
    spec.since = spec.since or function(d) return sightings.nth_imsi_seen(d.key, imsis, days) end
    return strip(spec, { "imsis", "days" })
  end

  --- On the days the device was seen within `days`, on average ≥ `average` distinct
  -- IMSIs a day, over at least `min_days` days seen.
  function builders.duplicate_daily_avg(opts)
    local average = need(opts, "average", "duplicate_daily_avg")
    local days = need(opts, "days", "duplicate_daily_avg")
    local min_days = opts.min_days or 1
    local spec = spec_from(opts, {
      name = "duplicate_daily_avg", status = "BLACKLISTED",
      reason = ("on average %g or more SIMs a day over %d days (cloned IMEI)"):format(average, days),
      unless = builders.keeps_service,
    })
    local at_least = math.ceil(average) -- some day had that many distinct IMSIs, so the window did
    spec.when = function(d)
      if d.key == nil or sightings.imsis(d.key, days) < at_least then return false end
      local daily = sightings.daily(d.key, days)
      return daily.days_seen >= min_days and daily.average >= average
    end
    return strip(spec, { "average", "days", "min_days" })
  end

  -- A run of `n` numbers in arithmetic progression (constant positive step) among the
  -- sorted distinct values.
  local function progression(values, n)
    if #values < n then return false end
    table.sort(values)
    local run, step = 1, nil
    for i = 2, #values do
      local s = values[i] - values[i - 1]
      if s > 0 and s == step then
        run = run + 1
      else
        run, step = 2, s
      end
      if run >= n then return true end
    end
    return false
  end

  --- ≥ `msisdns` MSISDNs within `days` on one operator whose numbers form an arithmetic
  -- progression: one device moved across a batch of SIMs (a SIM box, a reseller's bench).
  function builders.transient_imei(opts)
    local count = need(opts, "msisdns", "transient_imei")
    local days = need(opts, "days", "transient_imei")
    local spec = spec_from(opts, {
      name = "transient_imei", status = "GREYLISTED",
      reason = ("%d or more MSISDNs in a sequence within %d days on one network"):format(count, days),
    })
    spec.when = function(d)
      if d.key == nil or sightings.msisdns(d.key, days) < count then return false end
      local by_operator = {}
      for _, row in ipairs(sightings.rows(d.key, days)) do -- seen in the window (the store's rule)
        local number = row.msisdn and tonumber(row.msisdn)
        if number then
          local op = row.operator or "?"
          local set = by_operator[op] or {}
          by_operator[op] = set
          set[number] = true
        end
      end
      for _, set in pairs(by_operator) do
        local values = {}
        for number in pairs(set) do values[#values + 1] = number end
        if progression(values, count) then return true end
      end
      return false
    end
    return strip(spec, { "msisdns", "days" })
  end

  return builders
end

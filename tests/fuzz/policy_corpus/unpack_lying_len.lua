-- hang: table.unpack up to a lying __len
local t = setmetatable({}, { __len = function() return 1 << 40 end })
return select("#", table.unpack(t)) > 0

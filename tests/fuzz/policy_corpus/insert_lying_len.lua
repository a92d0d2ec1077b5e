-- hang: table.insert shifting 2^60 elements a lying __len announced
local t = setmetatable({}, { __len = function() return 1 << 60 end })
table.insert(t, 1, "x")

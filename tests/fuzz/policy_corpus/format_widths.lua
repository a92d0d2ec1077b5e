-- hang: string.format with the widest fields, in a loop
for _ = 1, 1e9 do local s = string.format("%99s%99s%99s%-99d", "a", "b", "c", 1) end

-- hang: string.rep of an empty string with a huge count (one VM instruction, 2^62 loop turns)
return #string.rep("", 1 << 62) > 0

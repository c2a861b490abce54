-- Reserved: this number belongs to another change being merged; this
-- placeholder does nothing and is deleted when that change arrives.
SELECT 1;

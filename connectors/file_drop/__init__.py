"""File drop: a watched folder of police notification batches (JSON lines or CSV).

`dvtrigger file-drop` publishes each file dropped in the folder to the police
feed exactly once: the folder's layout and the pick-up convention (write as
`*.partial`, then rename) are in `folder`, the CSV columns in `csv_layout`, the
checkpoint and restart rules in `drop`, what a receipt holds in `state`.
"""

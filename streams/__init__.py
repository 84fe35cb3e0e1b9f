"""The faust app: one module per flow, a pure decision core beside thin agents."""

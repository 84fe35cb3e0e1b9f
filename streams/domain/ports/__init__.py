"""What the domain needs of the outside: the case system, its routes, how a task is updated."""

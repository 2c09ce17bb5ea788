"""A corpus of wrong and right implementations written as real students write them, run as the notebooks run them."""

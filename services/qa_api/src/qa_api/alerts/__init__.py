"""Regression alerts: change points along a reference branch's history of a metric.

`changepoints` finds where a series of values shifts (E-Divisive Means with a Student's t-test, as
Apache Otava does); `divergence` is the E-Divisive statistic it splits by and `significance` the test
that accepts or refuses a split.
"""

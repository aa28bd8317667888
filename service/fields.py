"""Strict marshmallow fields for JSON numbers and numeric matrices.

Only JSON numbers count as numbers: no booleans, no numeric strings; integers must be
integral; every number must be finite. ``Matrix`` turns a list of rows (or a flat list: one
column) into a float64 NumPy array, naming the first bad entry by index, e.g. ``[3][0]``.
"""
import math

import numpy as np
from marshmallow import ValidationError, fields

from .body import NonFinite


FINITE = "numbers must be finite (and within the range of a 64-bit float)."


def _is_number(value):
    return type(value) in (int, float)  # bool is a subclass of int: excluded on purpose


def _non_finite(value):
    return isinstance(value, NonFinite)  # the parser's marker for NaN, Infinity, 1e400


class StrictFloat(fields.Field):
    """A finite JSON number (integers allowed), returned as float."""

    default_error_messages = {"invalid": "Not a number: expected a JSON number.",
                              "special": "Must be a finite number."}

    def _deserialize(self, value, attr, data, **kwargs):
        if _non_finite(value):
            raise ValidationError(f"{value!r} is not allowed: {FINITE}")
        if not _is_number(value):
            raise self.make_error("invalid")
        try:
            value = float(value)
        except OverflowError:
            raise self.make_error("special") from None
        if not math.isfinite(value):
            raise self.make_error("special")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else float(value)


class StrictInteger(fields.Integer):
    """A whole JSON number: 3, 3.0 and 3e0 are 3; 2.7, true and "3" are refused."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if _non_finite(value):
            raise ValidationError(f"{value!r} is not allowed: {FINITE}")
        if type(value) is float:
            if not value.is_integer():
                raise ValidationError(f"Must be a whole number, not {value!r}.")
            value = int(value)
        if type(value) is not int:
            raise self.make_error("invalid")
        return super()._validated(value)


class Matrix(fields.Field):
    """A 2-D array of finite numbers: a list of equally long rows, or a flat list (one column)."""

    default_error_messages = {"invalid": "Must be an array of rows of numbers, or an array of numbers."}

    def __init__(self, *, max_rows=None, max_columns=None, **kwargs):
        super().__init__(**kwargs)
        self.max_rows, self.max_columns = max_rows, max_columns

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        if not value:
            raise ValidationError("Must contain at least one row.")
        limit = self.max_rows() if callable(self.max_rows) else self.max_rows
        if limit is not None and len(value) > limit:
            raise ValidationError(f"Has {len(value)} rows; the limit is {limit}.")
        flat = not isinstance(value[0], list)
        rows = [[v] for v in value] if flat else value
        width = 1 if flat else (len(rows[0]) if isinstance(rows[0], list) else 0)
        columns = self.max_columns() if callable(self.max_columns) else self.max_columns
        if columns is not None and width > columns:
            raise ValidationError(f"Rows have {width} columns; the limit is {columns}.")
        for i, row in enumerate(rows):
            where = f"[{i}]"
            if not isinstance(row, list):
                raise ValidationError(f"{where}: expected a row (an array of numbers)"
                                      if not flat else f"{where}: not a number")
            if len(row) != width:
                raise ValidationError(f"{where}: has {len(row)} values but row [0] has {width}; "
                                      "all rows must have the same length.")
            if width == 0:
                raise ValidationError(f"{where}: a row needs at least one number.")
            for j, v in enumerate(row):
                if not _is_number(v):
                    where_v = where if flat else f"{where}[{j}]"
                    if _non_finite(v):
                        raise ValidationError(f"{where_v}: {v!r} is not allowed: {FINITE}")
                    raise ValidationError(f"{where_v}: {_describe(v)} is not a number.")
        try:
            array = np.array(rows, dtype=np.float64)
        except OverflowError:
            array = None
        if array is None or not np.isfinite(array).all():
            i, j = _first_non_finite(rows)
            raise ValidationError(f"[{i}]" + ("" if flat else f"[{j}]") + ": must be a finite number "
                                  "(within the range of a 64-bit float).")
        return array

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else np.asarray(value).tolist()


def _describe(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return f"the string {v[:20]!r}"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _first_non_finite(rows):
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            try:
                if not math.isfinite(float(v)):
                    return i, j
            except OverflowError:
                return i, j
    return 0, 0


class StrictBoolean(fields.Boolean):
    """JSON true or false only (marshmallow's Boolean also takes "yes", 1, "on", ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value

//! Reading one data file (parquet, JSON lines, CSV) with polars into typed columns, with
//! errors that name the data set, the file and the row.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{DatasetError, Result};

/// One file of one data set, read into a data frame.
pub(crate) struct Table {
    pub dataset: String,
    pub file: PathBuf,
    pub df: DataFrame,
}

impl Table {
    fn read_err(dataset: &str, file: &Path, e: impl std::fmt::Display) -> DatasetError {
        DatasetError::Read { dataset: dataset.into(), file: file.into(), message: e.to_string() }
    }

    pub fn parquet(dataset: &str, file: &Path) -> Result<Self> {
        let f = std::fs::File::open(file).map_err(|e| Self::read_err(dataset, file, e))?;
        let df = ParquetReader::new(f).finish().map_err(|e| Self::read_err(dataset, file, e))?;
        Ok(Self { dataset: dataset.into(), file: file.into(), df })
    }

    pub fn jsonl(dataset: &str, file: &Path) -> Result<Self> {
        let f = std::fs::File::open(file).map_err(|e| Self::read_err(dataset, file, e))?;
        let df = JsonReader::new(f)
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .map_err(|e| Self::read_err(dataset, file, e))?;
        Ok(Self { dataset: dataset.into(), file: file.into(), df })
    }

    pub fn csv(dataset: &str, file: &Path) -> Result<Self> {
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .try_into_reader_with_file_path(Some(file.into()))
            .and_then(|r| r.finish())
            .map_err(|e| Self::read_err(dataset, file, e))?;
        Ok(Self { dataset: dataset.into(), file: file.into(), df })
    }

    pub fn len(&self) -> usize {
        self.df.height()
    }

    /// `file, row` as written into `Example::origin`.
    pub fn origin(&self, row: usize) -> String {
        let name = self.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{name} row {row}")
    }

    pub fn bad(&self, row: usize, column: &str, message: impl Into<String>) -> DatasetError {
        DatasetError::BadValue {
            dataset: self.dataset.clone(),
            file: self.file.clone(),
            row,
            column: column.into(),
            message: message.into(),
        }
    }

    fn column(&self, name: &str) -> Result<&Column> {
        self.df.column(name).map_err(|_| DatasetError::MissingColumn {
            dataset: self.dataset.clone(),
            file: self.file.clone(),
            column: name.into(),
            present: self.df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    fn type_err(&self, name: &str, e: impl std::fmt::Display) -> DatasetError {
        self.bad(0, name, format!("unexpected column type: {e}"))
    }

    /// A string column; a null is an error naming its row.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let col = self.column(name)?;
        let s = col.str().map_err(|e| self.type_err(name, e))?;
        s.iter()
            .enumerate()
            .map(|(row, v)| v.map(str::to_owned).ok_or_else(|| self.bad(row, name, "null value")))
            .collect()
    }

    /// An integer column (any integer width); a null is an error naming its row.
    pub fn ints(&self, name: &str) -> Result<Vec<i64>> {
        let col = self.column(name)?;
        if !col.dtype().is_integer() {
            return Err(self.type_err(name, format!("expected integers, found {}", col.dtype())));
        }
        let cast = col.cast(&DataType::Int64).map_err(|e| self.type_err(name, e))?;
        let ca = cast.i64().map_err(|e| self.type_err(name, e))?;
        ca.iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| self.bad(row, name, "null value")))
            .collect()
    }

    /// A numeric column read as f64; a null or NaN is an error naming its row.
    pub fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let col = self.column(name)?;
        if !col.dtype().is_primitive_numeric() {
            return Err(self.type_err(name, format!("expected numbers, found {}", col.dtype())));
        }
        let cast = col.cast(&DataType::Float64).map_err(|e| self.type_err(name, e))?;
        let ca = cast.f64().map_err(|e| self.type_err(name, e))?;
        ca.iter()
            .enumerate()
            .map(|(row, v)| match v {
                Some(x) if x.is_finite() => Ok(x),
                Some(x) => Err(self.bad(row, name, format!("non-finite value {x}"))),
                None => Err(self.bad(row, name, "null value")),
            })
            .collect()
    }

    fn list_of_strings(&self, name: &str, series: Option<Series>, row: usize) -> Result<Vec<String>> {
        let series = series.ok_or_else(|| self.bad(row, name, "null list"))?;
        let s = series.str().map_err(|e| self.type_err(name, e))?;
        s.iter()
            .map(|v| v.map(str::to_owned).ok_or_else(|| self.bad(row, name, "null list element")))
            .collect()
    }

    /// A `list<string>` column (HF `Sequence(Value("string"))`).
    pub fn string_lists(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let col = self.column(name)?;
        let lists = col.list().map_err(|e| self.type_err(name, e))?;
        (0..lists.len()).map(|row| self.list_of_strings(name, lists.get_as_series(row), row)).collect()
    }

    /// The `list<string>` field `field` of a struct column (OpenBookQA `choices.text`).
    pub fn struct_string_lists(&self, name: &str, field: &str) -> Result<Vec<Vec<String>>> {
        let col = self.column(name)?;
        let st = col.struct_().map_err(|e| self.type_err(name, e))?;
        let inner = st
            .field_by_name(field)
            .map_err(|_| self.bad(0, name, format!("struct has no field `{field}`")))?;
        let lists = inner.list().map_err(|e| self.type_err(name, e))?;
        let qualified = format!("{name}.{field}");
        (0..lists.len()).map(|row| self.list_of_strings(&qualified, lists.get_as_series(row), row)).collect()
    }

    /// An HF `Image()` column: a struct `{bytes: binary, path: string}`; returns the bytes.
    pub fn image_bytes(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let col = self.column(name)?;
        let st = col.struct_().map_err(|e| self.type_err(name, e))?;
        let bytes = st
            .field_by_name("bytes")
            .map_err(|_| self.bad(0, name, "image struct has no field `bytes`"))?;
        let bin = bytes.binary().map_err(|e| self.type_err(name, e))?;
        bin.iter()
            .enumerate()
            .map(|(row, v)| v.map(<[u8]>::to_vec).ok_or_else(|| self.bad(row, name, "image without bytes")))
            .collect()
    }

    /// Checks that `value` is a class index `0..num_classes`.
    pub fn class(&self, row: usize, column: &str, value: i64, num_classes: usize) -> Result<usize> {
        if value < 0 || value as usize >= num_classes {
            return Err(self.bad(row, column, format!("label {value} is outside 0..{num_classes}")));
        }
        Ok(value as usize)
    }

    /// Checks that `value` is one of `names`; returns its index.
    pub fn class_by_name(&self, row: usize, column: &str, value: &str, names: &[&str]) -> Result<usize> {
        names
            .iter()
            .position(|n| *n == value)
            .ok_or_else(|| self.bad(row, column, format!("label {value:?} is not one of {names:?}")))
    }
}

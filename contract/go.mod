module github.com/hcw-home/hcw/contract

go 1.26

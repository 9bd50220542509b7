module github.com/officialasishkumar/costobs/sdk/go

go 1.26

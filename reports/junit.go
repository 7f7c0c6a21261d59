package reports

import (
	"encoding/xml"
	"fmt"
	"os"
)

// Suite is one run as a JUnit testsuite.
type Suite struct {
	Name  string
	Cases []Case
}

// Case is one testcase: a checker, or the run's expectation.
type Case struct {
	Name    string
	Failure *Failure
	Output  string
}

// Failure is why a testcase failed.
type Failure struct {
	Message string
	Text    string
}

// The JUnit XML shapes, shared by a run's junit.xml (one testsuite) and a
// soak's soak-junit.xml (testsuites).
type xmlSuite struct {
	XMLName  xml.Name  `xml:"testsuite"`
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Skipped  int       `xml:"skipped,attr"`
	Time     string    `xml:"time,attr,omitempty"`
	Cases    []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Time      string      `xml:"time,attr,omitempty"`
	Failure   *xmlFailure `xml:"failure,omitempty"`
	Error     *xmlFailure `xml:"error,omitempty"`
	Skipped   *xmlFailure `xml:"skipped,omitempty"`
	SystemOut string      `xml:"system-out,omitempty"`
}

type xmlFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes s as junit.xml.
func WriteJUnit(path string, s Suite) error {
	x := xmlSuite{Name: s.Name, Tests: len(s.Cases)}
	for _, c := range s.Cases {
		xc := xmlCase{Name: c.Name, Classname: "harness." + s.Name, SystemOut: c.Output}
		if c.Failure != nil {
			x.Failures++
			xc.Failure = &xmlFailure{Message: c.Failure.Message, Text: c.Failure.Text}
		}
		x.Cases = append(x.Cases, xc)
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

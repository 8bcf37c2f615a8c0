package fieldcore_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Tagging fields: the colcrypt struct tag, shared by every integration,
// parses into a Spec. A malformed tag is an error naming the field.
func ExampleParseTag() {
	for _, f := range []struct{ name, tag string }{
		{"TenantID", "tenant"},
		{"SSN", "deterministic,notnull"},
		{"Email", "blindindex:email_bidx,normalize:trim+lower"},
		{"Salary", "bind:ID"},
		{"Note", "armor,allowplaintext"},
	} {
		spec, err := fieldcore.ParseTag(f.name, f.tag)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: tenant=%v mode=%v notnull=%v armor=%v allowplaintext=%v bind=%q",
			f.name, spec.Tenant, spec.Mode, spec.NotNull, spec.Armor, spec.AllowPlaintext, spec.Bind)
		if spec.BlindIndex != nil {
			fmt.Printf(" blindindex=%s%v", spec.BlindIndex.Column, spec.BlindIndex.Normalizers)
		}
		fmt.Println()
	}
	_, err := fieldcore.ParseTag("Email", "blindindex")
	var te *fieldcore.TagError
	fmt.Println("malformed:", errors.As(err, &te), te.Field)
	// Output:
	// TenantID: tenant=true mode=randomized notnull=false armor=false allowplaintext=false bind=""
	// SSN: tenant=false mode=deterministic notnull=true armor=false allowplaintext=false bind=""
	// Email: tenant=false mode=randomized notnull=false armor=false allowplaintext=false bind="" blindindex=email_bidx[trim lower]
	// Salary: tenant=false mode=randomized notnull=false armor=false allowplaintext=false bind="ID"
	// Note: tenant=false mode=randomized notnull=false armor=true allowplaintext=true bind=""
	// malformed: true Email
}

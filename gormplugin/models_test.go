package gormplugin_test

import "time"

// Patient is the model of the package doc, with a few more field types.
type Patient struct {
	ID        uint
	TenantID  string    `colcrypt:"tenant"`
	Name      string    `gorm:"serializer:colcrypt"`
	Email     string    `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte    `gorm:"index"`
	SSN       string    `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
	Age       *int      `gorm:"serializer:colcrypt"`
	Born      time.Time `gorm:"serializer:colcrypt"`
	Notes     string    `gorm:"serializer:colcrypt" colcrypt:"armor"`
	CompanyID *uint
	Company   *Company
	Visits    []Visit
}

// Company declares its tenant after its encrypted field, so SELECT * and
// Joins read the ciphertext first.
type Company struct {
	ID       uint
	Name     string `gorm:"serializer:colcrypt"`
	TenantID string `colcrypt:"tenant"`
}

// Visit is a has-many of Patient, tenant last too.
type Visit struct {
	ID        uint
	PatientID uint
	Note      string `gorm:"serializer:colcrypt"`
	TenantID  string `colcrypt:"tenant"`
}

// Memo has no tenant field: its tenant is the context's or the fixed one.
type Memo struct {
	ID   uint
	Body string `gorm:"serializer:colcrypt"`
}

// LegacyNote is a text column being encrypted in place: old rows still
// hold plaintext.
type LegacyNote struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	Body     string `gorm:"serializer:colcrypt" colcrypt:"armor,allowplaintext"`
}

var allModels = []any{&Company{}, &Patient{}, &Visit{}, &Memo{}, &LegacyNote{}}

// Misused models, each wrong in one way.

type BadType struct {
	ID    uint
	Ratio complex128 `gorm:"serializer:colcrypt"`
}

type BadNoBidxField struct {
	ID    uint
	Email string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx"`
}

type BadNoSerializer struct {
	ID  uint
	SSN string `colcrypt:"deterministic"`
}

type BadTag struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt" colcrypt:"deterministic,sparkly"`
}

type BadTextColumn struct {
	ID   uint
	Name string `gorm:"type:text;serializer:colcrypt"`
}

type BadShortColumn struct {
	ID   uint
	Name string `gorm:"type:varchar(20);serializer:colcrypt" colcrypt:"armor"`
}

type BadDefault struct {
	ID   uint
	Name string `gorm:"serializer:colcrypt;default:anonymous"`
}

type GoodVarcharColumn struct {
	ID   uint
	Name string `gorm:"type:varchar(200);size:64;serializer:colcrypt" colcrypt:"armor"`
}

// BadTenantColumn's tenant is a character column: on MySQL "Acme" would
// match "acme".
type BadTenantColumn struct {
	ID       uint
	TenantID string `gorm:"type:varchar(64)" colcrypt:"tenant"`
	Name     string `gorm:"serializer:colcrypt"`
}

// GoodTenantSized has an indexed, sized tenant column: VARBINARY(64) on
// MySQL.
type GoodTenantSized struct {
	ID       uint
	TenantID string `gorm:"size:64;index" colcrypt:"tenant"`
	Name     string `gorm:"serializer:colcrypt"`
}
